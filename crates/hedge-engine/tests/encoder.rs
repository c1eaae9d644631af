//! Exactness of hedge's encoders against the Python reference implementations, with values
//! written by `scripts/fixtures/make_encoder_reference.py`:
//!
//! - `SentenceEncoder` on the real all-MiniLM-L6-v2 against `sentence-transformers`
//!   (`tests/fixtures/minilm_reference.json`; the model itself is installed by
//!   `scripts/install-test-models` into `target/models/`, or named by `HEDGE_MINILM_DIR`);
//! - `NliModel` on tiny random-weight RoBERTa, BERT and DeBERTa-v2/v3 sequence classifiers against
//!   `transformers` (`tests/fixtures/tiny-nli-*`);
//! - folders of the wrong kind fail with a message that says what was expected.

use std::path::{Path, PathBuf};

use hedge_engine::encoder::SentenceEncoder;
use hedge_engine::{embedding_similarity, nli_probabilities, NliModel, NLI_TEMPERATURE};
use serde_json::Value;

const TOL: f64 = 1e-4;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<Vec<u32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}

fn floats(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn max_abs_diff<T: Copy + Into<f64>>(got: &[Vec<T>], want: &[Vec<f64>]) -> f64 {
    assert_eq!(got.len(), want.len(), "row count");
    got.iter()
        .zip(want)
        .flat_map(|(g, w)| {
            assert_eq!(g.len(), w.len(), "row length");
            g.iter().zip(w).map(|(a, b)| ((*a).into() - b).abs())
        })
        .fold(0.0, f64::max)
}

/// all-MiniLM-L6-v2: `HEDGE_MINILM_DIR`, or `target/models/all-MiniLM-L6-v2` in the workspace.
fn minilm_dir() -> PathBuf {
    let dir = match std::env::var_os("HEDGE_MINILM_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/models/all-MiniLM-L6-v2")
        }
    };
    assert!(
        dir.join("model.safetensors").is_file(),
        "all-MiniLM-L6-v2 is not installed at {}: run scripts/install-test-models \
         (or set HEDGE_MINILM_DIR to a folder with config.json, model.safetensors, tokenizer.json)",
        dir.display()
    );
    dir
}

#[test]
fn minilm_matches_sentence_transformers() {
    let reference = read_json(&fixtures().join("minilm_reference.json"));
    let enc = SentenceEncoder::load(minilm_dir()).unwrap();
    assert_eq!(
        enc.max_seq_length() as u64,
        reference["max_seq_length"].as_u64().unwrap()
    );
    assert_eq!(enc.dim(), 384);
    let sentences: Vec<String> = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        enc.token_ids(&sentences).unwrap(),
        ids(&reference["token_ids"]),
        "token ids (with truncation) differ from sentence-transformers'"
    );
    let want = floats(&reference["embeddings"]);
    let got = enc.encode(&sentences).unwrap();
    let diff = max_abs_diff(&got, &want);
    eprintln!("all-MiniLM-L6-v2 vs sentence-transformers: max |diff| = {diff:.3e}");
    assert!(diff < TOL, "max |diff| {diff} vs sentence-transformers");

    // One at a time gives the same vectors as the padded batch.
    let alone: Vec<Vec<f32>> = sentences
        .iter()
        .flat_map(|s| enc.encode(std::slice::from_ref(s)).unwrap())
        .collect();
    let diff_alone = max_abs_diff(&alone, &want);
    assert!(diff_alone < TOL, "alone: max |diff| {diff_alone}");
    assert!(enc.encode::<&str>(&[]).unwrap().is_empty());
}

#[test]
fn embedding_similarity_is_a_similarity_matrix() {
    let enc = SentenceEncoder::load(minilm_dir()).unwrap();
    let texts = [
        "The capital of France is Paris.",
        "Paris is the capital of France.",
        "Bananas are rich in potassium.",
        "The capital of France is Paris.",
    ];
    let w = embedding_similarity(&enc, &texts).unwrap();
    assert_eq!(w.len(), 4);
    for (i, row) in w.iter().enumerate() {
        assert_eq!(row[i], 1.0);
        for (j, &x) in row.iter().enumerate() {
            assert_eq!(x, w[j][i]);
            assert!((0.0..=1.0).contains(&x));
        }
    }
    assert!((w[0][3] - 1.0).abs() < 1e-6, "identical texts: {}", w[0][3]);
    assert!(
        w[0][1] > 0.8 && w[0][2] < 0.3,
        "paraphrase {} vs unrelated {}",
        w[0][1],
        w[0][2]
    );
}

fn check_nli(name: &str) {
    let dir = fixtures().join(name);
    let reference = read_json(&dir.join("reference.json"));
    let model = NliModel::load(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
    let pairs: Vec<(String, String)> = reference["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        model.token_ids(&pairs).unwrap(),
        ids(&reference["input_ids"]),
        "{name}: token ids"
    );
    let logits = model.logits(&pairs).unwrap();
    let d_logits = max_abs_diff(&logits, &floats(&reference["logits"]));
    let probs: Vec<Vec<f32>> = model
        .predict(&pairs, NLI_TEMPERATURE)
        .unwrap()
        .into_iter()
        .map(|p| p.to_vec())
        .collect();
    let d_probs = max_abs_diff(&probs, &floats(&reference["probs_t3"]));
    let plain: Vec<Vec<f64>> = nli_probabilities(&model, &pairs)
        .unwrap()
        .into_iter()
        .map(|p| p.to_vec())
        .collect();
    let d_plain = max_abs_diff(&plain, &floats(&reference["probs_t3"]));
    eprintln!(
        "{name} vs transformers: logits max |diff| = {d_logits:.3e}, probs(T=3) {d_probs:.3e}"
    );
    assert!(d_logits < TOL, "{name}: logits max |diff| {d_logits}");
    assert!(
        d_probs < TOL && d_plain < TOL,
        "{name}: probs {d_probs} {d_plain}"
    );
    // One pair alone gives the same logits as in the padded batch.
    let alone = model.logits(&pairs[..1]).unwrap();
    assert!(max_abs_diff(&alone, &floats(&reference["logits"])[..1]) < TOL);
    for p in &plain {
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
    assert!(model.predict(&pairs, 0.0).is_err());
}

#[test]
fn nli_roberta_matches_transformers() {
    check_nli("tiny-nli-roberta");
}

#[test]
fn nli_bert_matches_transformers() {
    check_nli("tiny-nli-bert");
}

#[test]
fn nli_deberta_v3_matches_transformers() {
    check_nli("tiny-nli-deberta-v3");
}

#[test]
fn nli_deberta_v2_matches_transformers() {
    check_nli("tiny-nli-deberta-v2");
}

#[test]
fn sentence_encoder_reads_prefixed_checkpoints() {
    // A BertForSequenceClassification folder keeps its encoder under "bert.".
    let enc = SentenceEncoder::load(fixtures().join("tiny-nli-bert")).unwrap();
    let e = enc.encode(&["a cat", "the weather is sunny"]).unwrap();
    for row in &e {
        let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
    assert_eq!(enc.max_seq_length(), 64);
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("config.json");
    let mut cfg = read_json(&path);
    edit(&mut cfg);
    std::fs::write(&path, serde_json::to_string(&cfg).unwrap()).unwrap();
}

fn err_text<T: std::fmt::Debug>(r: hedge_engine::Result<T>) -> String {
    let e = r.unwrap_err().to_string();
    eprintln!("{e}");
    e
}

#[test]
fn wrong_folders_say_what_was_expected() {
    let llama = fixtures().join("tiny-llama");
    let e = err_text(SentenceEncoder::load(&llama));
    assert!(e.contains("is a decoder") && e.contains("bert"), "{e}");
    let e = err_text(NliModel::load(&llama));
    assert!(e.contains("is a decoder"), "{e}");

    // A classifier whose labels are not NLI labels.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("tiny-nli-bert"), tmp.path());
    edit_config(tmp.path(), |c| {
        c["id2label"] = serde_json::json!({"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"});
    });
    let e = err_text(NliModel::load(tmp.path()));
    assert!(e.contains("entailment") && e.contains("LABEL_0"), "{e}");

    // A bare encoder (architectures BertModel) given as an NLI model.
    edit_config(tmp.path(), |c| {
        c["architectures"] = serde_json::json!(["BertModel"])
    });
    let e = err_text(NliModel::load(tmp.path()));
    assert!(
        e.contains("ForSequenceClassification") && e.contains("BertModel"),
        "{e}"
    );

    // An unsupported encoder type lists the supported ones.
    edit_config(tmp.path(), |c| {
        c["model_type"] = serde_json::json!("deberta")
    });
    let e = err_text(NliModel::load(tmp.path()));
    assert!(
        e.contains("bert, roberta") && e.contains("DeBERTa v1"),
        "{e}"
    );

    // DeBERTa is an NLI cross-encoder, not a sentence encoder; its convolution is refused.
    let tmp4 = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("tiny-nli-deberta-v3"), tmp4.path());
    let e = err_text(SentenceEncoder::load(tmp4.path()));
    assert!(
        e.contains("DeBERTa") && e.contains("--similarity nli"),
        "{e}"
    );
    edit_config(tmp4.path(), |c| {
        c["conv_kernel_size"] = serde_json::json!(3)
    });
    let e = err_text(NliModel::load(tmp4.path()));
    assert!(
        e.contains("config.json") && e.contains("conv_kernel_size 3"),
        "{e}"
    );

    // A missing file is named.
    let tmp2 = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("tiny-nli-roberta"), tmp2.path());
    std::fs::remove_file(tmp2.path().join("tokenizer.json")).unwrap();
    let e = err_text(NliModel::load(tmp2.path()));
    assert!(e.contains("missing tokenizer.json"), "{e}");
    let e = err_text(SentenceEncoder::load(tmp2.path().join("nowhere")));
    assert!(e.contains("not a folder"), "{e}");

    // A tensor of the wrong shape is named with both shapes.
    let tmp3 = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("tiny-nli-roberta"), tmp3.path());
    edit_config(tmp3.path(), |c| {
        c["intermediate_size"] = serde_json::json!(48)
    });
    let e = err_text(NliModel::load(tmp3.path()));
    assert!(
        e.contains("model.safetensors")
            && e.contains("intermediate.dense.weight")
            && e.contains("[48, 32]")
            && e.contains("[64, 32]"),
        "{e}"
    );
}
