//! `hedge bench decode` and `hedge bench sampling`: what they add to the speeds — the bytes of
//! weights a decoding step reads, the bandwidth that bounds it, and the forward pass of one step
//! of n rows against one of a single row.

mod common;

use common::hedge;

fn json_lines(o: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The tiny model of `common` reads, per step, 2 layers × (q, k, v, o: 2·64·64 + 2·64·32;
/// gate, up, down: 3·64·96) + the vocabulary projection 320·64 = 81,920 parameters: 327,680
/// bytes in f32, half in bf16.
#[test]
fn bench_decode_reports_the_weights_of_a_step_and_the_bound_they_set() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::random_model(dir.path());
    let o = hedge(&[
        "bench",
        "decode",
        "-m",
        &model,
        "--prompt-tokens",
        "8",
        "--new-tokens",
        "4",
        "--rounds",
        "1",
        "--dtype",
        "f32",
        "--compare-dtype",
        "bf16",
        "--json",
    ]);
    let lines = json_lines(&o);
    let gb: Vec<f64> = lines
        .iter()
        .map(|l| l["weights_gb_per_step"].as_f64().unwrap())
        .collect();
    assert_eq!(gb, [327_680e-9, 163_840e-9]);
    for l in &lines {
        let read = l["machine_read_gb_s"].as_f64().unwrap();
        let bound = l["bound_tok_s"].as_f64().unwrap();
        let gb = l["weights_gb_per_step"].as_f64().unwrap();
        assert!(read > 0.0 && read.is_finite(), "{l}");
        assert!((bound - read / gb).abs() <= 1e-9 * bound, "{l}");
        let decode = l["decode_read_gb_s"].as_f64().unwrap();
        let tok_s = l["decode_tok_s"].as_f64().unwrap();
        assert!((decode - gb * tok_s).abs() <= 1e-9 * decode, "{l}");
    }
    let text = hedge(&[
        "bench",
        "decode",
        "-m",
        &model,
        "--prompt-tokens",
        "8",
        "--new-tokens",
        "4",
        "--rounds",
        "1",
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("MB of weights per step"), "{text}");
}

#[test]
fn bench_sampling_times_the_forward_pass_of_n_rows_against_one() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::random_model(dir.path());
    let lines = json_lines(&hedge(&[
        "bench",
        "sampling",
        "-m",
        &model,
        "--samples",
        "4",
        "--tokens",
        "3",
        "--prompt-tokens",
        "8",
        "--rounds",
        "1",
        "--json",
    ]));
    let v = &lines[0];
    let (one, n) = (
        v["step_1_s"].as_f64().unwrap(),
        v["step_n_s"].as_f64().unwrap(),
    );
    assert!(one > 0.0 && n > 0.0, "{v}");
    let ratio = v["step_n_over_1"].as_f64().unwrap();
    assert!((ratio - n / one).abs() <= 1e-9 * ratio, "{v}");
}
