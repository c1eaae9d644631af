//! End-to-end tests of the sampling-based and reflexive estimators: `generate`, `score` and
//! `eval` with `--samples`, seeded samples, evidence kept in items.jsonl and rescored without
//! the model, the embedding backend on the real all-MiniLM-L6-v2, a remote server (a mock
//! OpenAI-compatible one on 127.0.0.1) with and without log-probabilities, and `hedge bench
//! sampling`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::hedge;
use serde_json::{json, Value};

/// A random-weight llama with a context long enough for the reflexive prompts (the byte-level
/// tokenizer of a 320-token vocabulary spends about a token per character).
const CONFIG: &str = r#"{"model_type": "llama", "vocab_size": 320, "hidden_size": 64, "intermediate_size": 96,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
  "max_position_embeddings": 512, "rms_norm_eps": 1e-5}"#;

fn model(dir: &Path) -> String {
    common::random_model_with(dir, CONFIG, 5)
}

fn ok_json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

const SAMPLING: [&str; 10] = [
    "lexical_similarity",
    "num_sets",
    "eigv",
    "ecc",
    "deg",
    "semantic_entropy",
    "discrete_semantic_entropy",
    "token_sar",
    "sentence_sar",
    "sar",
];

/// A JSON array of numbers.
fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn generate(model: &str, seed: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "generate",
        "-m",
        model,
        "--json",
        "--max-tokens",
        "6",
        "--samples",
        "4",
        "--seed",
        seed,
    ];
    if !extra.contains(&"--similarity") {
        args.extend_from_slice(&["--similarity", "jaccard"]);
    }
    args.extend_from_slice(extra);
    args.push("hello world");
    ok_json(&hedge(&args))
}

#[test]
fn sampling_and_reflexive_estimators_are_finite_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let v = generate(&model, "0", &["-e", "all,sampling,reflexive"]);
    let scores = v["scores"].as_object().unwrap();
    for name in SAMPLING.iter().chain(&["p_true", "r_tuning_sure", "msp"]) {
        let x = scores[*name].as_f64();
        assert!(x.is_some_and(f64::is_finite), "{name}: {:?}", scores[*name]);
    }
    // choice_risk needs a multiple-choice question: null, not a made-up number.
    assert!(scores["choice_risk"].is_null());
    let samples = v["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 4);
    for s in samples {
        let lp = floats(&s["token_logprobs"]);
        assert!(!lp.is_empty() && s["text"].is_string());
        let sum: f64 = lp.iter().sum();
        assert!((s["logprob"].as_f64().unwrap() - sum).abs() < 1e-9);
    }
    assert_eq!(v["similarity_backend"], "jaccard");
    let w = v["similarity"].as_array().unwrap();
    assert_eq!(w.len(), 4);
    assert!(w.iter().all(|r| r.as_array().unwrap().len() == 4));
    assert_eq!(
        v["token_relevance"].as_array().unwrap().len(),
        v["tokens"].as_array().unwrap().len()
    );
    assert_eq!(v["sample_token_relevance"].as_array().unwrap().len(), 4);
    assert!(v["reflexive"]["p_true_logprob"].as_f64().unwrap() < 0.0);

    // The default set stays the white-box one: no samples drawn.
    let plain = ok_json(&hedge(&["generate", "-m", &model, "--json", "hi"]));
    assert!(plain.get("samples").is_none());
    assert_eq!(plain["scores"].as_object().unwrap().len(), 9);
}

#[test]
fn samples_are_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let e = ["-e", "msp,eigv,semantic_entropy,sar"];
    let a = generate(&model, "3", &e);
    let b = generate(&model, "3", &e);
    let c = generate(&model, "4", &e);
    assert_eq!(a["samples"], b["samples"]);
    assert_eq!(a["scores"], b["scores"]);
    assert_eq!(a["similarity"], b["similarity"]);
    assert_ne!(a["samples"], c["samples"], "another seed, other samples");
    // The answer is greedy: the seed changes only the samples.
    assert_eq!(a["text"], c["text"]);
    // Text output lists them.
    let o = hedge(&[
        "generate",
        "-m",
        &model,
        "--max-tokens",
        "4",
        "--samples",
        "3",
        "-e",
        "eigv",
        "hi",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("3 samples at temperature 1, similarity rouge_l:"),
        "{text}"
    );
}

#[test]
fn score_draws_samples_for_the_prompt_and_weighs_the_given_response() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let o = hedge(&[
        "score",
        "-m",
        &model,
        "--json",
        "--prompt",
        "the cat",
        "--response",
        " sat down",
        "-e",
        "token_sar,eigv",
        "--samples",
        "3",
        "--max-tokens",
        "5",
    ]);
    let v = ok_json(&o);
    assert_eq!(v["samples"].as_array().unwrap().len(), 3);
    let rel = v["token_relevance"].as_array().unwrap();
    assert_eq!(rel.len(), v["tokens"].as_array().unwrap().len());
    assert!(v["scores"]["token_sar"].as_f64().unwrap().is_finite());
}

fn eval_item(id: u32) -> String {
    format!("{{\"id\": {id}, \"question\": \"what is {id}?\", \"answers\": [\"{id}\"]}}\n")
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn eval_keeps_the_evidence_and_rescoring_reproduces_the_scores() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let data = dir.path().join("d.jsonl");
    std::fs::write(&data, (1..=3).map(eval_item).collect::<String>()).unwrap();
    let out = dir.path().join("run");
    let o = hedge(&[
        "eval",
        "-m",
        &model,
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--max-tokens",
        "4",
        "--bootstrap",
        "0",
        "-e",
        "all,sampling,p_true",
        "--samples",
        "3",
        "--similarity",
        "jaccard",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let items = read_lines(&out.join("items.jsonl"));
    assert_eq!(items.len(), 3);
    for v in &items {
        assert_eq!(v["samples"].as_array().unwrap().len(), 3);
        assert!(v["samples"][0]["token_logprobs"].is_array());
        assert!(v["samples"][0]["logprob"].is_number());
        assert_eq!(v["similarity"].as_array().unwrap().len(), 3);
        assert_eq!(v["tokens"].as_array().unwrap().len(), v["response_tokens"]);
        assert_eq!(v["scores"].as_object().unwrap().len(), 9 + 10 + 1);
    }
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(
        (run["samples"].clone(), run["similarity"].clone()),
        (json!(3), json!("jaccard"))
    );

    // The same scores, bit for bit, without the model.
    let again = dir.path().join("again");
    let o = hedge(&[
        "rescore",
        "--input",
        out.to_str().unwrap(),
        "-e",
        "all,sampling,p_true",
        "--out",
        again.to_str().unwrap(),
        "--bootstrap",
        "0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rescored = read_lines(&again.join("items.jsonl"));
    for (a, b) in items.iter().zip(&rescored) {
        assert_eq!(a["scores"], b["scores"]);
        assert_eq!(a["samples"], b["samples"]);
    }
    assert!(again.join("summary.json").is_file() && again.join("report.html").is_file());

    // Another parameter from the same matrix; an estimator without evidence is named.
    let o = hedge(&[
        "rescore",
        "-i",
        out.join("items.jsonl").to_str().unwrap(),
        "-e",
        "num_sets:0.9,r_tuning_sure",
        "--bootstrap",
        "0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no evidence for r_tuning_sure") && !err.contains("num_sets"),
        "{err}"
    );
}

/// The real all-MiniLM-L6-v2, installed by scripts/install-test-models (or HEDGE_MINILM_DIR).
fn minilm() -> PathBuf {
    let dir = std::env::var_os("HEDGE_MINILM_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/models/all-MiniLM-L6-v2"),
        PathBuf::from,
    );
    assert!(
        dir.join("model.safetensors").is_file(),
        "{} is missing: run scripts/install-test-models (scripts/test does) or set HEDGE_MINILM_DIR",
        dir.display()
    );
    dir
}

#[test]
fn embedding_similarity_with_minilm() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let minilm = minilm();
    let v = generate(
        &model,
        "1",
        &[
            "-e",
            "eigv,num_sets,token_sar",
            "--similarity",
            "embedding",
            "--similarity-model",
            minilm.to_str().unwrap(),
        ],
    );
    assert_eq!(v["similarity_backend"], "embedding");
    let w = v["similarity"].as_array().unwrap();
    for (i, row) in w.iter().enumerate() {
        for (j, x) in row.as_array().unwrap().iter().enumerate() {
            let x = x.as_f64().unwrap();
            assert!((0.0..=1.0).contains(&x), "W[{i}][{j}] = {x}");
            assert_eq!(x, w[j][i].as_f64().unwrap(), "symmetric");
        }
    }
    for name in ["eigv", "num_sets", "token_sar"] {
        assert!(v["scores"][name].as_f64().unwrap().is_finite(), "{name}");
    }
}

#[test]
fn embedding_offline_says_how_to_pass_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let o = Command::new(env!("CARGO_BIN_EXE_hedge"))
        .args([
            "generate",
            "-m",
            &model,
            "-e",
            "eigv",
            "--similarity",
            "embedding",
            "hi",
        ])
        .env("HF_HOME", dir.path().join("hf"))
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("sentence-transformers/all-MiniLM-L6-v2")
            && err.contains("--similarity-model DIR")
            && err.contains("target/models/all-MiniLM-L6-v2"),
        "{err}"
    );
}

// ---------------------------------------------------------------- remote

/// A mock OpenAI-compatible server: `/v1/completions` and `/v1/chat/completions` answer with
/// `n` choices whose text depends on the seed and the choice; with `logprobs` they carry the
/// legacy (completions) or chat shape of vLLM, and a one-token request lists " True", " sure"
/// and " unsure" among its alternatives.
fn mock(with_logprobs: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream, with_logprobs));
        }
    });
    base
}

fn serve(stream: TcpStream, with_logprobs: bool) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut len = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).unwrap();
    let req: Value = serde_json::from_slice(&body).unwrap();
    let n = req["n"].as_u64().unwrap_or(1);
    let seed = req["seed"].as_u64().unwrap_or(0);
    let one_token = req["max_tokens"] == 1;
    let chat = path.ends_with("/chat/completions");
    let choices: Vec<Value> = (0..n)
        .map(|i| {
            let k = seed.wrapping_add(i) % 3;
            let words: Vec<String> = if one_token {
                vec![" True".into()]
            } else {
                vec![format!(" w{k}"), " end".into()]
            };
            let lps: Vec<f64> = words.iter().map(|_| -0.25 - 0.1 * k as f64).collect();
            let text: String = words.concat();
            let alt = |w: &str, lp: f64| -> Vec<(String, f64)> {
                let mut v = vec![(w.to_string(), lp), (" other".into(), -2.0)];
                if one_token {
                    v.push((" sure".into(), -1.0));
                    v.push((" unsure".into(), -1.5));
                }
                v
            };
            let logprobs = if !with_logprobs {
                Value::Null
            } else if chat {
                json!({"content": words.iter().zip(&lps).map(|(w, lp)| json!({
                    "token": w, "logprob": lp,
                    "top_logprobs": alt(w, *lp).iter().map(|(t, l)| json!({"token": t, "logprob": l})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>()})
            } else {
                json!({
                    "tokens": words, "token_logprobs": lps,
                    "top_logprobs": words.iter().zip(&lps).map(|(w, lp)| {
                        let m: serde_json::Map<String, Value> =
                            alt(w, *lp).into_iter().map(|(t, l)| (t, json!(l))).collect();
                        Value::Object(m)
                    }).collect::<Vec<_>>(),
                })
            };
            let mut c = json!({"index": i, "finish_reason": "stop", "logprobs": logprobs});
            if chat {
                c["message"] = json!({"role": "assistant", "content": text});
            } else {
                c["text"] = json!(text);
            }
            c
        })
        .collect();
    let out = json!({"choices": choices, "usage": {"prompt_tokens": 5}}).to_string();
    let mut stream = reader.into_inner();
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
            out.len()
        )
        .as_bytes(),
    );
}

#[test]
fn remote_model_with_top_k_logprobs() {
    let base = mock(true);
    let spec = format!("openai:{base}#mock");
    let o = hedge(&[
        "generate",
        "-m",
        &spec,
        "--json",
        "-e",
        "msp,eigv,sar,p_true,r_tuning_sure",
        "--samples",
        "3",
        "--similarity",
        "jaccard",
        "What?",
    ]);
    let v = ok_json(&o);
    assert_eq!(v["model"], "mock");
    assert_eq!(v["token_stats"], "top_k");
    let s = &v["scores"];
    assert!((s["msp"].as_f64().unwrap() - 0.5).abs() < 1e-12, "{s}");
    assert!((s["p_true"].as_f64().unwrap() - 0.25).abs() < 1e-12, "{s}");
    for name in ["eigv", "sar", "r_tuning_sure"] {
        assert!(s[name].as_f64().unwrap().is_finite(), "{name}: {s}");
    }
    // generate_n: the samples came as n choices of one seed stream.
    assert_eq!(v["samples"].as_array().unwrap().len(), 3);
    assert_eq!(v["evidence_stats"], "top_k");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("top-").count(), 1, "said once: {err}");
}

#[test]
fn remote_model_without_logprobs_degrades_once() {
    let base = mock(false);
    let spec = format!("openai:{base}#mock");
    let o = hedge(&[
        "generate",
        "-m",
        &spec,
        "--json",
        "--chat",
        "-e",
        "msp,eigv,lexical_similarity,p_true",
        "--samples",
        "3",
        "--similarity",
        "jaccard",
        "What?",
    ]);
    let v = ok_json(&o);
    let names: Vec<&String> = v["scores"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["eigv", "lexical_similarity"]);
    assert!(v["scores"]["eigv"].as_f64().unwrap().is_finite());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("sent no log-probabilities").count(), 1, "{err}");
    assert!(
        err.contains("dropping the estimators that need log-probabilities: msp, p_true"),
        "{err}"
    );

    // Over a whole eval, the notice and the warning come once.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.jsonl");
    std::fs::write(&data, (1..=3).map(eval_item).collect::<String>()).unwrap();
    let out = dir.path().join("run");
    let o = hedge(&[
        "eval",
        "-m",
        &spec,
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-e",
        "all,eigv,deg",
        "--samples",
        "3",
        "--bootstrap",
        "0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("sent no log-probabilities").count(), 1, "{err}");
    assert_eq!(err.matches("dropping").count(), 1, "{err}");
    let items = read_lines(&out.join("items.jsonl"));
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["scores"].as_object().unwrap().len(), 2);

    // Nothing left to run: one clear error, not one per item.
    let o = hedge(&[
        "eval",
        "-m",
        &spec,
        "--data",
        data.to_str().unwrap(),
        "--out",
        dir.path().join("run2").to_str().unwrap(),
        "-e",
        "msp",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("every estimator asked for needs them"),
        "{err}"
    );
}

#[test]
fn bench_sampling_reports_both_ways_and_their_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let v = ok_json(&hedge(&[
        "bench",
        "sampling",
        "-m",
        &model,
        "--samples",
        "3",
        "--tokens",
        "4",
        "--prompt-tokens",
        "8",
        "--rounds",
        "2",
        "--json",
    ]));
    assert_eq!(v["bench"], "sampling");
    // Each round's own ratio, and their median (of two: the mean), which lies between them.
    let rounds = floats(&v["fork_over_greedy_rounds"]);
    assert_eq!(rounds.len(), 2, "{v}");
    let median = v["fork_over_greedy_median"].as_f64().unwrap();
    assert!(
        (median - (rounds[0] + rounds[1]) / 2.0).abs() < 1e-12,
        "{v}"
    );
    assert!(rounds[0] <= rounds[1], "sorted: {v}");
    for k in [
        "fork_over_greedy",
        "separate_over_greedy",
        "separate_over_fork",
    ] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k}: {v}");
    }
    let ratio = v["separate_s"].as_f64().unwrap() / v["fork_s"].as_f64().unwrap();
    assert!((ratio - v["separate_over_fork"].as_f64().unwrap()).abs() < 1e-9);
}

#[test]
fn help_teaches_the_new_flags() {
    let help = String::from_utf8_lossy(&hedge(&["generate", "--help"]).stdout).to_string();
    for needle in [
        "--samples",
        "--similarity",
        "--similarity-model",
        "--sample-temperature",
        "sampling",
        "reflexive",
        "openai:URL#MODEL",
    ] {
        assert!(help.contains(needle), "generate --help lacks {needle}");
    }
    let help = String::from_utf8_lossy(&hedge(&["rescore", "--help"]).stdout).to_string();
    assert!(help.contains("items.jsonl") && help.contains("without loading the model"));
}

/// `choice_risk` on a data set with multiple-choice lines: the options' letters are read after
/// folktexts' prompt; the positive option is given ("positive") or the one equal to a gold
/// answer; the two options' risks of one question add up to 1; a line without options scores
/// null; a bad "positive" names its line and the other lines still run.
#[test]
fn eval_reads_choice_risk_from_multiple_choice_lines() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let data = dir.path().join("mc.jsonl");
    let q = "Is the sky blue?";
    let lines = [
        json!({"id": 1, "question": q, "answers": ["yes"], "options": ["no", "yes"]}),
        json!({"id": 2, "question": q, "answers": ["yes"], "options": ["no", "yes"], "positive": 0}),
        json!({"id": 3, "question": q, "answers": ["yes"]}),
        json!({"id": 4, "question": q, "answers": ["yes"], "options": ["no", "yes"], "positive": 2}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&data, text).unwrap();
    let out = dir.path().join("run");
    let o = hedge(&[
        "eval",
        "-m",
        &model,
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--max-tokens",
        "4",
        "--bootstrap",
        "0",
        "-e",
        "msp,choice_risk",
    ]);
    assert_eq!(o.status.code(), Some(1), "a bad line gives exit code 1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("mc.jsonl:4: positive 2") && err.contains("0 to 1"),
        "{err}"
    );
    let items = read_lines(&out.join("items.jsonl"));
    assert_eq!(items.len(), 3);
    let risk = |i: usize| items[i]["scores"]["choice_risk"].as_f64();
    let (yes, no) = (risk(0).unwrap(), risk(1).unwrap());
    assert!(yes > 0.0 && yes < 1.0, "{yes}");
    assert!((yes + no - 1.0).abs() < 1e-9, "{yes} + {no}");
    assert!(items[2]["scores"]["choice_risk"].is_null());
    // The letters' log-probabilities are kept with the evidence.
    let choice = &items[0]["reflexive"]["choice"];
    assert_eq!(choice["positive"], 1);
    assert_eq!(choice["option_logprobs"].as_array().unwrap().len(), 2);

    // `hedge score --input` reads the same fields (a scored line has no golds: "positive").
    let input = dir.path().join("scored.jsonl");
    let line = json!({"prompt": q, "response": " yes", "options": ["no", "yes"], "positive": 1});
    std::fs::write(&input, format!("{line}\n")).unwrap();
    let o = hedge(&[
        "score",
        "-m",
        &model,
        "--input",
        input.to_str().unwrap(),
        "-e",
        "choice_risk",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = v["scores"]["choice_risk"].as_f64().unwrap();
    assert!(r > 0.0 && r < 1.0, "{r}");
}

/// `generate --option … --positive N`: choice_risk on a question given on the command line;
/// the two options' risks add up to 1, and impossible flags say what is allowed.
#[test]
fn generate_reads_choice_risk_from_option_flags() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path());
    let risk = |positive: &str| {
        let v = ok_json(&hedge(&[
            "generate",
            "-m",
            &model,
            "--json",
            "--max-tokens",
            "3",
            "-e",
            "choice_risk",
            "--option",
            "no",
            "--option",
            "yes",
            "--positive",
            positive,
            "Is the sky blue?",
        ]));
        v["scores"]["choice_risk"].as_f64().unwrap()
    };
    let (no, yes) = (risk("0"), risk("1"));
    assert!(no > 0.0 && no < 1.0, "{no}");
    assert!((no + yes - 1.0).abs() < 1e-9, "{no} + {yes}");
    for (args, want) in [
        (
            vec!["--option", "no", "--option", "yes", "--positive", "2"],
            "0 to 1",
        ),
        (vec!["--option", "only"], "2 to 26"),
        (vec!["--positive", "1"], "needs the options"),
    ] {
        let mut all = vec!["generate", "-m", &model, "-e", "choice_risk"];
        all.extend(args);
        all.push("Is the sky blue?");
        let o = hedge(&all);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{err}");
    }
}
