//! The remote backend against a mock OpenAI-compatible server on 127.0.0.1 (no network):
//! both response shapes from recorded-style vLLM and llama.cpp answers, the approximate
//! statistics worked by hand, n samples, retries, timeouts and the server's own errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hedge_engine::{
    Backend, EngineError, FinishReason, Generation, GenerationRequest, RemoteModel, RemoteOptions,
    RemoteSpec, RetryPolicy, ScoreRequest, TokenStats,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------- mock server

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

enum Reply {
    /// Status, extra headers, body.
    Send(u16, Vec<(&'static str, String)>, String),
    /// Wait this long, then close without answering.
    Hang(Duration),
}

fn ok(body: impl Into<String>) -> Reply {
    Reply::Send(200, Vec::new(), body.into())
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// A server answering each request with `handler(request, index of the request)`, one thread
/// per connection, recording what it saw.
struct Mock {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (handler, log) = (Arc::clone(&handler), Arc::clone(&log));
                std::thread::spawn(move || serve(stream, &*handler, &log));
            }
        });
        Mock { base, seen }
    }

    fn model(&self, options: RemoteOptions) -> RemoteModel {
        let spec = RemoteSpec::parse(&format!("openai:{}#test-model", self.base)).unwrap();
        RemoteModel::new(spec, options)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).unwrap();
    let seen = Seen {
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let index = {
        let mut log = log.lock().unwrap();
        log.push(seen.clone());
        log.len() - 1
    };
    let mut stream = reader.into_inner();
    match handler(&seen, index) {
        Reply::Send(status, extra, body) => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in extra {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            let _ = stream.write_all(format!("{head}\r\n{body}").as_bytes());
        }
        Reply::Hang(d) => std::thread::sleep(d),
    }
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/remote/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Fast retries for tests.
fn fast() -> RemoteOptions {
    RemoteOptions {
        retry: RetryPolicy {
            max_retries: 3,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            ..RetryPolicy::default()
        },
        read_timeout: Duration::from_secs(5),
        ..RemoteOptions::default()
    }
}

/// A completions answer of one choice whose text is `text`, with one token of logprob ln ½.
fn one_choice(text: &str) -> String {
    json!({"choices": [{"index": 0, "text": text, "finish_reason": "length",
        "logprobs": {"tokens": [text], "token_logprobs": [-std::f64::consts::LN_2],
                     "top_logprobs": [{text: -std::f64::consts::LN_2, "x": -std::f64::consts::LN_2}]}}],
        "usage": {"prompt_tokens": 3}})
    .to_string()
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() < 1e-6
}

fn assert_stats(g: &Generation, step: usize, entropy: f64, margin: f64) {
    let t = &g.tokens[step];
    assert!(
        close(t.entropy, entropy),
        "step {step}: entropy {} vs {entropy}",
        t.entropy
    );
    assert!(
        close(t.margin, margin),
        "step {step}: margin {} vs {margin}",
        t.margin
    );
}

fn chat(prompt: &str, k: usize) -> GenerationRequest {
    let mut req = GenerationRequest::new(prompt);
    req.chat = true;
    req.top_logprobs = k;
    req
}

// ---------------------------------------------------------------- response shapes

#[test]
fn vllm_chat_answer_with_hand_worked_top_k_statistics() {
    let mock = Mock::start(|_, _| ok(fixture("vllm_chat.json")));
    let model = mock.model(fast());
    let g = model.generate(&chat("Capital of France?", 3)).unwrap();

    assert_eq!(g.text, "Paris.");
    assert_eq!(g.prompt_tokens, 36);
    // "stop" with vLLM's stop_reason null is the end-of-sequence token.
    assert_eq!(g.finish_reason, FinishReason::Eos);
    assert_eq!(g.token_stats, TokenStats::TopK);
    assert!(g.approximate_distribution() && g.has_logprobs());
    let texts: Vec<&str> = g.tokens.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, ["Paris", "."]);

    // Step 0: top-3 = (1/2, 1/4, 1/8), renormalised over 7/8 to (4/7, 2/7, 1/7).
    let (a, b, c): (f64, f64, f64) = (4.0 / 7.0, 2.0 / 7.0, 1.0 / 7.0);
    let h0 = a * (1.0 / a).ln() + b * (1.0 / b).ln() + c * (1.0 / c).ln();
    assert_stats(&g, 0, h0, a - b);
    // Three values that sum to 1 always have excess kurtosis 3/2 − 3 (Σd⁴ = (Σd²)²/2 for
    // deviations d that sum to 0).
    assert!(
        close(g.tokens[0].kurtosis, -1.5),
        "{}",
        g.tokens[0].kurtosis
    );
    assert!(close(g.tokens[0].logprob, 0.5f64.ln()));

    // Step 1: vLLM lists the sampled "." (0.1) first, before the likelier "!" (0.6) and
    // " is" (0.2): renormalised over 0.9 to (2/3, 2/9, 1/9), and `top` is re-sorted.
    let (a, b, c): (f64, f64, f64) = (2.0 / 3.0, 2.0 / 9.0, 1.0 / 9.0);
    let h1 = a * (1.0 / a).ln() + b * (1.0 / b).ln() + c * (1.0 / c).ln();
    assert_stats(&g, 1, h1, a - b);
    assert!(close(g.tokens[1].logprob, 0.1f64.ln()));
    let top: Vec<&str> = g.tokens[1].top.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(top, ["!", " is", "."]);
    assert!(close(g.tokens[1].top[0].logprob, 0.6f64.ln()));
    // Ids are stable hashes of the text when the server sends none.
    assert_eq!(g.tokens[1].id, g.tokens[1].top[2].id);

    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    let body = &seen[0].body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "Capital of France?"}])
    );
    assert_eq!(
        (&body["logprobs"], &body["top_logprobs"]),
        (&json!(true), &json!(3))
    );
    assert_eq!(
        (&body["max_tokens"], &body["temperature"], &body["seed"]),
        (&json!(64), &json!(0.0), &json!(0))
    );
    assert_eq!(seen[0].header("authorization"), None);

    // Marked in JSON, so a report can say the statistics are approximate.
    let j = serde_json::to_value(&g).unwrap();
    assert_eq!(j["token_stats"], "top_k");
}

#[test]
fn vllm_completions_answer_with_n_choices_and_dict_top_logprobs() {
    let mock = Mock::start(|_, _| ok(fixture("vllm_completions_n2.json")));
    let model = mock.model(fast());
    let mut req = GenerationRequest::new("The capital of France is");
    req.top_logprobs = 2;
    req.sampling.temperature = 0.8;
    req.sampling.stop = vec!["\n".into()];
    let gens = model.generate_n(&req, 2).unwrap();

    let seen = mock.seen();
    assert_eq!(seen.len(), 1, "one request with n = 2");
    assert_eq!(seen[0].path, "/v1/completions");
    let body = &seen[0].body;
    assert_eq!(body["prompt"], "The capital of France is");
    assert_eq!((&body["n"], &body["logprobs"]), (&json!(2), &json!(2)));
    assert_eq!(body["stop"], json!(["\n"]));

    // Choices come back in the order of their index, not of the array.
    assert_eq!(gens[0].text, " Paris, the");
    assert_eq!(gens[0].finish_reason, FinishReason::Length);
    assert_eq!(gens[1].text, " Lyon\n");
    // vLLM's stop_reason "\n" says a stop string ended it.
    assert_eq!(gens[1].finish_reason, FinishReason::Stop);
    assert!(gens.iter().all(|g| g.prompt_tokens == 5));

    // " Paris" 0.7 vs " Lyon" 0.2 → (7/9, 2/9); both samples share this first step.
    let (p, q) = (7.0f64 / 9.0, 2.0f64 / 9.0);
    let h = -(p * p.ln() + q * q.ln());
    assert_stats(&gens[0], 0, h, p - q);
    assert_stats(&gens[1], 0, h, p - q);
    assert!(close(gens[1].tokens[0].logprob, 0.2f64.ln()));
    assert!(close(gens[0].tokens[0].kurtosis, -2.0), "two values: −2");
    // "," (0.3) was sampled though "." (0.6) was likelier: (2/3, 1/3).
    assert_stats(
        &gens[0],
        1,
        -(2.0 / 3.0 * (2.0f64 / 3.0).ln() + (1.0f64 / 3.0) * (1.0f64 / 3.0).ln()),
        1.0 / 3.0,
    );
    assert_eq!(gens[0].tokens[1].top[0].text, ".");
    assert_eq!(
        gens[0].logprob(),
        gens[0].tokens.iter().map(|t| t.logprob).sum::<f64>()
    );
}

#[test]
fn llama_cpp_answers_keep_token_ids_and_content_shape_on_completions() {
    let mock = Mock::start(|seen, _| {
        if seen.path.ends_with("/chat/completions") {
            ok(fixture("llamacpp_chat.json"))
        } else {
            ok(fixture("llamacpp_completions.json"))
        }
    });
    let model = mock.model(fast());

    let g = model.generate(&chat("Capital of France?", 2)).unwrap();
    assert_eq!((g.text.as_str(), g.prompt_tokens), ("Paris", 24));
    assert_eq!(g.tokens[0].id, 59604);
    assert_eq!(g.tokens[0].top[1].id, 785);
    // 0.75 vs 0.2 → (15/19, 4/19).
    let (p, q) = (15.0f64 / 19.0, 4.0f64 / 19.0);
    assert_stats(&g, 0, -(p * p.ln() + q * q.ln()), p - q);

    // llama.cpp answers /completions with the chat shape of logprobs.
    let mut req = GenerationRequest::new("The capital of France is");
    req.top_logprobs = 2;
    let g = model.generate(&req).unwrap();
    assert_eq!(g.text, " Paris");
    assert_eq!(g.tokens[0].id, 12366);
    assert_eq!(g.finish_reason, FinishReason::Length);
    assert_stats(&g, 0, -(0.9f64 * 0.9f64.ln() + 0.1 * 0.1f64.ln()), 0.8);
}

#[test]
fn an_answer_without_logprobs_gives_the_text_and_a_flag_said_once() {
    let mock = Mock::start(|_, _| ok(fixture("no_logprobs_chat.json")));
    let model = mock.model(fast());
    assert!(!model.lacks_logprobs());
    assert_eq!(model.take_notice(), None);
    let g = model.generate(&chat("Capital of France?", 5)).unwrap();
    assert_eq!(g.text, "The capital of France is Paris.");
    assert!(g.tokens.is_empty());
    assert_eq!(g.token_stats, TokenStats::Absent);
    assert!(!g.has_logprobs());
    assert!(model.lacks_logprobs());
    let notice = model.take_notice().expect("told once");
    assert!(notice.contains("no log-probabilities"), "{notice}");
    model.generate(&chat("Again?", 5)).unwrap();
    assert_eq!(model.take_notice(), None, "and only once");
}

#[test]
fn exact_statistics_stay_out_of_json() {
    let g = Generation {
        text: "a".into(),
        tokens: Vec::new(),
        prompt_tokens: 1,
        finish_reason: FinishReason::Eos,
        token_stats: TokenStats::Full,
    };
    let j = serde_json::to_string(&g).unwrap();
    assert!(!j.contains("token_stats"), "{j}");
    let back: Generation = serde_json::from_str(&j).unwrap();
    assert_eq!(back.token_stats, TokenStats::Full);
}

// ---------------------------------------------------------------- n samples

#[test]
fn a_server_refusing_n_gets_n_seeded_requests() {
    // llama.cpp: "Only one completion choice is allowed".
    let mock = Mock::start(|seen, _| {
        if seen.body.get("n").is_some() {
            Reply::Send(400, Vec::new(), fixture("llamacpp_error_n.json"))
        } else {
            ok(one_choice(&format!("seed {}", seen.body["seed"])))
        }
    });
    let model = mock.model(RemoteOptions {
        concurrency: 2,
        ..fast()
    });
    let mut req = GenerationRequest::new("Q");
    req.sampling.seed = 7;
    req.sampling.temperature = 1.0;
    let texts: Vec<String> = model
        .generate_n(&req, 3)
        .unwrap()
        .into_iter()
        .map(|g| g.text)
        .collect();
    assert_eq!(texts, ["seed 7", "seed 8", "seed 9"]);
    assert_eq!(mock.seen().len(), 4, "one refused, then three");
    // Later calls do not ask for n again.
    assert_eq!(model.generate_n(&req, 2).unwrap().len(), 2);
    assert_eq!(mock.seen().len(), 6);
}

#[test]
fn a_bad_request_for_n_samples_is_not_tried_n_more_times() {
    let mock = Mock::start(|_, _| Reply::Send(400, Vec::new(), fixture("openai_error_400.json")));
    let e = mock
        .model(fast())
        .generate_n(&GenerationRequest::new("Q"), 5)
        .unwrap_err()
        .to_string();
    assert!(e.contains("maximum context length"), "{e}");
    assert_eq!(mock.seen().len(), 2, "with n = 5, then once with n = 1");
}

#[test]
fn a_server_ignoring_n_gets_the_rest_as_separate_requests() {
    let mock = Mock::start(|seen, _| ok(one_choice(&format!("seed {}", seen.body["seed"]))));
    let model = mock.model(fast());
    let gens = model.generate_n(&GenerationRequest::new("Q"), 3).unwrap();
    let texts: Vec<&str> = gens.iter().map(|g| g.text.as_str()).collect();
    assert_eq!(texts, ["seed 0", "seed 1", "seed 2"]);
    let seen = mock.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen.iter().filter(|s| s.body["n"] == 3).count(), 1);
    let e = model
        .generate_n(&GenerationRequest::new("Q"), 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least one sample"), "{e}");
}

#[test]
fn generate_many_keeps_order_and_bounds_requests_in_flight() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (f, p) = (Arc::clone(&in_flight), Arc::clone(&peak));
    let mock = Mock::start(move |seen, _| {
        let now = f.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(40));
        f.fetch_sub(1, Ordering::SeqCst);
        ok(one_choice(seen.body["prompt"].as_str().unwrap()))
    });
    let model = mock.model(fast());
    let reqs: Vec<GenerationRequest> = (0..9)
        .map(|i| GenerationRequest::new(format!("prompt {i}")))
        .collect();
    let out = model.generate_many(&reqs, 3);
    let texts: Vec<String> = out.into_iter().map(|r| r.unwrap().text).collect();
    let want: Vec<String> = (0..9).map(|i| format!("prompt {i}")).collect();
    assert_eq!(texts, want);
    let peak = peak.load(Ordering::SeqCst);
    assert!((2..=3).contains(&peak), "peak in flight {peak}");
}

// ---------------------------------------------------------------- retries and errors

#[test]
fn rate_limits_and_server_errors_are_retried() {
    let mock = Mock::start(|_, i| match i {
        0 => Reply::Send(
            429,
            Vec::new(),
            r#"{"error": {"message": "slow down"}}"#.into(),
        ),
        1 => Reply::Send(503, Vec::new(), "upstream unavailable".into()),
        _ => ok(one_choice("done")),
    });
    let g = mock
        .model(fast())
        .generate(&GenerationRequest::new("Q"))
        .unwrap();
    assert_eq!(g.text, "done");
    assert_eq!(mock.seen().len(), 3);
}

#[test]
fn retry_after_is_honoured() {
    for header in [("Retry-After", "0.25"), ("retry-after-ms", "250")] {
        let mock = Mock::start(move |_, i| match i {
            0 => Reply::Send(429, vec![(header.0, header.1.to_string())], "{}".into()),
            _ => ok(one_choice("done")),
        });
        let model = mock.model(fast()); // its own back-off would be 1 ms
        let start = Instant::now();
        model.generate(&GenerationRequest::new("Q")).unwrap();
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(250),
            "{header:?}: {waited:?}"
        );
        assert!(waited < Duration::from_secs(2), "{header:?}: {waited:?}");
        assert_eq!(mock.seen().len(), 2);
    }
}

#[test]
fn retries_end_with_the_last_status_and_message() {
    let mock = Mock::start(|_, _| {
        Reply::Send(
            500,
            Vec::new(),
            r#"{"error": {"message": "CUDA out of memory"}}"#.into(),
        )
    });
    let e = mock
        .model(fast())
        .generate(&GenerationRequest::new("Q"))
        .unwrap_err();
    assert!(matches!(e, EngineError::Http { status: 500, .. }), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("HTTP 500: CUDA out of memory"), "{e}");
    assert_eq!(mock.seen().len(), 4, "the first try and 3 retries");
}

#[test]
fn a_bad_request_shows_the_servers_message_at_once() {
    let mock = Mock::start(|seen, _| {
        if seen.body["prompt"] == "raw" {
            Reply::Send(422, Vec::new(), "field required: model".into())
        } else {
            Reply::Send(400, Vec::new(), fixture("openai_error_400.json"))
        }
    });
    let model = mock.model(fast());
    let e = model
        .generate(&GenerationRequest::new("Q"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/v1/completions: HTTP 400: This model's maximum context length is 32768 tokens. However, you requested 40000 tokens"),
        "{e}"
    );
    assert_eq!(mock.seen().len(), 1, "a 400 is not retried");
    let e = model
        .generate(&GenerationRequest::new("raw"))
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("HTTP 422: field required: model"), "{e}");
}

#[test]
fn a_silent_server_times_out_and_is_retried() {
    let mock = Mock::start(|_, _| Reply::Hang(Duration::from_secs(3)));
    let mut options = fast();
    options.read_timeout = Duration::from_millis(150);
    options.retry.max_retries = 1;
    let start = Instant::now();
    let e = mock
        .model(options)
        .generate(&GenerationRequest::new("Q"))
        .unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(e, EngineError::Connection { attempts: 2, .. }),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(
        e.contains("timed out") && e.contains("after 2 attempts"),
        "{e}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(mock.seen().len(), 2);
}

#[test]
fn a_refused_connection_is_retried_then_reported() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // the listener is dropped: nothing listens there now
    let spec = RemoteSpec::parse(&format!("openai:http://127.0.0.1:{port}/v1#m")).unwrap();
    let mut options = fast();
    options.retry.max_retries = 2;
    let e = RemoteModel::new(spec, options)
        .generate(&GenerationRequest::new("Q"))
        .unwrap_err();
    assert!(
        matches!(e, EngineError::Connection { attempts: 3, .. }),
        "{e:?}"
    );
}

#[test]
fn the_api_key_goes_in_a_bearer_header() {
    let mock = Mock::start(|_, _| ok(one_choice("x")));
    let model = mock.model(RemoteOptions {
        api_key: Some("sk-test-123".into()),
        ..fast()
    });
    model.generate(&GenerationRequest::new("Q")).unwrap();
    assert_eq!(
        mock.seen()[0].header("authorization"),
        Some("Bearer sk-test-123")
    );
    assert!(
        !format!("{model:?}").contains("sk-test"),
        "the key is not printed"
    );
}

// ---------------------------------------------------------------- scoring

#[test]
fn scoring_uses_echo_and_keeps_the_response_tokens() {
    let mock = Mock::start(|_, _| ok(fixture("vllm_echo_score.json")));
    let model = mock.model(fast());
    let req = ScoreRequest {
        prompt: "The capital of France is".into(),
        response: " Paris.".into(),
        chat: false,
        top_logprobs: 2,
    };
    let g = model.score(&req).unwrap();
    assert_eq!(g.text, " Paris.");
    assert_eq!(g.finish_reason, FinishReason::Scored);
    assert_eq!(g.prompt_tokens, 5);
    let texts: Vec<&str> = g.tokens.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, [" Paris", "."]);
    assert!(close(g.logprob(), 0.7f64.ln() + 0.3f64.ln()));
    assert_eq!(g.tokens[1].top[0].text, ",");

    let body = &mock.seen()[0].body;
    assert_eq!(body["prompt"], "The capital of France is Paris.");
    assert_eq!(
        (&body["echo"], &body["max_tokens"], &body["logprobs"]),
        (&json!(true), &json!(0), &json!(2))
    );

    let mut chat_req = req.clone();
    chat_req.chat = true;
    let e = model.score(&chat_req).unwrap_err().to_string();
    assert!(e.contains("chat template"), "{e}");
}

#[test]
fn scoring_on_a_server_without_echo_says_so() {
    // A server that refuses the request, and one (llama.cpp) that ignores echo.
    let mock = Mock::start(|seen, _| {
        if seen.body["prompt"].as_str().unwrap().starts_with("refuse") {
            Reply::Send(
                400,
                Vec::new(),
                r#"{"error": {"message": "echo is not supported"}}"#.into(),
            )
        } else {
            ok(
                r#"{"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"completion_tokens":0,"prompt_tokens":6,"total_tokens":6}}"#,
            )
        }
    });
    let model = mock.model(fast());
    for prompt in ["refuse: Q", "ignore: Q"] {
        let req = ScoreRequest {
            prompt: prompt.into(),
            response: " A".into(),
            chat: false,
            top_logprobs: 2,
        };
        let e = model.score(&req).unwrap_err();
        assert!(matches!(e, EngineError::RemoteUnsupported { .. }), "{e:?}");
        let e = e.to_string();
        assert!(e.contains("does not support teacher-forced scoring"), "{e}");
        if prompt.starts_with("refuse") {
            assert!(e.contains("HTTP 400: echo is not supported"), "{e}");
        }
    }
}
