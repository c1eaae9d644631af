//! The policy section of report.html for `hedge eval --policy`: the thresholds, the honesty
//! metrics and the share of each action per category, read from summary.json's `"policy"`
//! (instead of that object's raw JSON).

use std::fmt::Write as _;

use serde_json::Value;

use super::esc;

/// One line for the page's header list: the file and the thresholds.
pub fn headline(policy: &Value) -> String {
    let num = |k: &str| policy[k].as_f64().map_or("—".into(), |x| format!("{x:.3}"));
    format!(
        "{} — {} ({}); answer κ ≥ {}, hedge κ ≥ {}, abstain below (see Policy below)",
        policy["file"].as_str().unwrap_or("?"),
        policy["estimator"].as_str().unwrap_or("?"),
        policy["calibration"].as_str().unwrap_or("?"),
        num("tau_hi"),
        num("tau_lo"),
    )
}

/// The section: honesty, coverage and risk, then the actions per category and overall.
pub fn section(policy: &Value) -> String {
    let pct = |v: &Value| {
        v.as_f64()
            .map_or("—".into(), |x| format!("{:.1} %", 100.0 * x))
    };
    let num = |k: &str| policy[k].as_f64().map_or("—".into(), |x| format!("{x:.3}"));
    let mut h = String::new();
    let _ = write!(
        h,
        "<h2 id=\"policy\">Policy</h2>\n<p class=\"note\">honesty {} (over_conservativeness {} \
         of {} known, prudence {} of {} unknown; known = the model's answer is right, idk = the \
         policy abstains); answered (answer or hedge) {} of the questions, {} of them wrong.</p>\n\
         <table>\n<tr><th>category</th><th>n</th><th>right</th><th>answer</th><th>hedge</th>\
         <th>abstain</th><th>clarify</th><th>clarify ≥ 2 right</th></tr>\n",
        num("honesty"),
        num("over_conservativeness"),
        policy["known"],
        num("prudence"),
        policy["unknown"],
        pct(&policy["coverage"]),
        pct(&policy["risk"]),
    );
    let mut row = |name: &str, s: &Value| {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            esc(name),
            s["n"],
            pct(&s["accuracy"]),
            pct(&s["answer"]),
            pct(&s["hedge"]),
            pct(&s["abstain"]),
            pct(&s["clarify"]),
            pct(&s["clarify_naming_right"]),
        );
    };
    if let Some(categories) = policy["categories"].as_object() {
        for (name, shares) in categories {
            row(name, shares);
        }
    }
    row("all", &policy["overall"]);
    let c = &policy["clarify_questions"];
    let _ = writeln!(
        h,
        "</table>\n<p class=\"note\">clarifying questions: {}; naming ≥ 2 right answers: {}; \
         every named answer right: {}.</p>",
        c["asked"], c["naming_two_right"], c["all_named_right"]
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_section_is_a_table_not_json() {
        let shares = |n: u64, answer: f64| {
            json!({"n": n, "accuracy": 0.5, "answer": answer, "hedge": 0.1, "abstain": 0.2,
                   "clarify": 0.0, "clarify_naming_right": 0.0})
        };
        let p = json!({
            "file": "p.json", "estimator": "msp", "calibration": "platt",
            "tau_lo": 0.59, "tau_hi": 0.76, "honesty": 0.856, "over_conservativeness": 0.2,
            "prudence": 0.9, "known": 130, "unknown": 200, "coverage": 0.342, "risk": 0.124,
            "overall": shares(330, 0.3), "categories": {"unknown": shares(40, 0.1)},
            "clarify_questions": {"asked": 6, "naming_two_right": 0, "all_named_right": 0},
        });
        let s = section(&p);
        assert!(s.contains("honesty 0.856") && s.contains("34.2 %"), "{s}");
        assert!(
            s.contains("<td>unknown</td><td>40</td><td>50.0 %</td><td>10.0 %</td>"),
            "{s}"
        );
        assert!(s.contains("<td>all</td><td>330</td>"), "{s}");
        assert!(!s.contains('{'), "no raw JSON: {s}");
        assert!(headline(&p).starts_with("p.json — msp (platt); answer κ ≥ 0.760"));
    }
}
