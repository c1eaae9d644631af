//! The Porter stemmer as NLTK writes it (`nltk.stem.porter.PorterStemmer`, default
//! `NLTK_EXTENSIONS` mode), which `rouge_score` applies to words of more than 3 characters
//! when LM-Polygraph's `LexicalSimilarity` scores ROUGE-L with `use_stemmer=True`.
//!
//! A port rule for rule, including NLTK's departures from Porter (1980): a pool of
//! irregular forms, `ies`/`ied` on 4-letter words, the `y → i` condition of step 1c, the
//! `alli`, `fulli` and `logi` rules of step 2, and the `cvc` test on 2-letter stems.

/// The NLTK Porter stem of `word` (lowercased first, as NLTK does).
///
/// ```
/// use hedge_core::similarity::porter_stem;
/// assert_eq!(porter_stem("caresses"), "caress");
/// assert_eq!(porter_stem("Running"), "run");
/// assert_eq!(porter_stem("generalizations"), "gener");
/// assert_eq!(porter_stem("dying"), "die"); // NLTK's pool of irregular forms
/// ```
pub fn porter_stem(word: &str) -> String {
    let lower = word.to_lowercase();
    if let Some(&(_, stem)) = POOL.iter().find(|(form, _)| *form == lower) {
        return stem.to_string();
    }
    // NLTK tests the length of the word as given, in code points.
    if word.chars().count() <= 2 {
        return lower;
    }
    let mut w: Vec<char> = lower.chars().collect();
    for step in [step1a, step1b, step1c, step2, step3, step4, step5a, step5b] {
        w = step(w);
    }
    w.into_iter().collect()
}

/// NLTK's irregular forms: (form, stem).
const POOL: [(&str, &str); 16] = [
    ("sky", "sky"),
    ("skies", "sky"),
    ("dying", "die"),
    ("lying", "lie"),
    ("tying", "tie"),
    ("news", "news"),
    ("innings", "inning"),
    ("inning", "inning"),
    ("outings", "outing"),
    ("outing", "outing"),
    ("cannings", "canning"),
    ("canning", "canning"),
    ("howe", "howe"),
    ("proceed", "proceed"),
    ("exceed", "exceed"),
    ("succeed", "succeed"),
];

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

/// Whether `w[i]` is a consonant: not a vowel, and a `y` only when it follows a vowel
/// (or starts the word).
fn is_consonant(w: &[char], i: usize) -> bool {
    match w[i] {
        c if is_vowel(c) => false,
        'y' => i == 0 || !is_consonant(w, i - 1),
        _ => true,
    }
}

/// Porter's m: the number of vowel-run → consonant-run transitions ("vc") in `stem`.
fn measure(stem: &[char]) -> usize {
    (1..stem.len())
        .filter(|&i| !is_consonant(stem, i - 1) && is_consonant(stem, i))
        .count()
}

fn contains_vowel(stem: &[char]) -> bool {
    (0..stem.len()).any(|i| !is_consonant(stem, i))
}

fn ends_double_consonant(w: &[char]) -> bool {
    let n = w.len();
    n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1)
}

/// `*o`: consonant–vowel–consonant with the last not w, x or y; NLTK also accepts a
/// 2-letter vowel–consonant stem.
fn ends_cvc(w: &[char]) -> bool {
    let n = w.len();
    (n >= 3
        && is_consonant(w, n - 3)
        && !is_consonant(w, n - 2)
        && is_consonant(w, n - 1)
        && !matches!(w[n - 1], 'w' | 'x' | 'y'))
        || (n == 2 && !is_consonant(w, 0) && is_consonant(w, 1))
}

fn ends_with(w: &[char], suffix: &str) -> bool {
    let s: Vec<char> = suffix.chars().collect();
    w.ends_with(&s)
}

/// `w` without its last `n` characters.
fn cut(w: &[char], n: usize) -> &[char] {
    &w[..w.len() - n]
}

fn join(stem: &[char], tail: &str) -> Vec<char> {
    stem.iter().copied().chain(tail.chars()).collect()
}

/// A rule's condition on the stem left when its suffix is cut.
type Cond<'a> = &'a dyn Fn(&[char]) -> bool;

/// NLTK's `_apply_rule_list`: the first rule whose suffix ends `w` decides: its
/// replacement if its condition holds on the stem, else `w` unchanged.
fn apply(w: Vec<char>, rules: &[(&str, &str, Option<Cond>)]) -> Vec<char> {
    for &(suffix, replacement, cond) in rules {
        if ends_with(&w, suffix) {
            let stem = cut(&w, suffix.chars().count());
            return if cond.is_none_or(|c| c(stem)) {
                join(stem, replacement)
            } else {
                w
            };
        }
    }
    w
}

fn positive(stem: &[char]) -> bool {
    measure(stem) > 0
}

fn above_one(stem: &[char]) -> bool {
    measure(stem) > 1
}

fn step1a(w: Vec<char>) -> Vec<char> {
    if ends_with(&w, "ies") && w.len() == 4 {
        return join(cut(&w, 3), "ie");
    }
    apply(
        w,
        &[
            ("sses", "ss", None),
            ("ies", "i", None),
            ("ss", "ss", None),
            ("s", "", None),
        ],
    )
}

fn step1b(w: Vec<char>) -> Vec<char> {
    if ends_with(&w, "ied") {
        let tail = if w.len() == 4 { "ie" } else { "i" };
        return join(cut(&w, 3), tail);
    }
    if ends_with(&w, "eed") {
        let stem = cut(&w, 3);
        return if measure(stem) > 0 {
            join(stem, "ee")
        } else {
            w
        };
    }
    let Some(stem) = ["ed", "ing"]
        .into_iter()
        .filter(|s| ends_with(&w, s))
        .map(|s| cut(&w, s.chars().count()))
        .find(|stem| contains_vowel(stem))
    else {
        return w;
    };
    let stem = stem.to_vec();
    for (suffix, replacement) in [("at", "ate"), ("bl", "ble"), ("iz", "ize")] {
        if ends_with(&stem, suffix) {
            return join(cut(&stem, 2), replacement);
        }
    }
    if ends_double_consonant(&stem) {
        // `*d`: drop one of the doubled letters, except l, s and z.
        let last = stem[stem.len() - 1];
        return if matches!(last, 'l' | 's' | 'z') {
            stem
        } else {
            cut(&stem, 1).to_vec()
        };
    }
    if measure(&stem) == 1 && ends_cvc(&stem) {
        join(&stem, "e")
    } else {
        stem
    }
}

fn step1c(w: Vec<char>) -> Vec<char> {
    let cond = |stem: &[char]| stem.len() > 1 && is_consonant(stem, stem.len() - 1);
    apply(w, &[("y", "i", Some(&cond))])
}

fn step2(w: Vec<char>) -> Vec<char> {
    if ends_with(&w, "alli") && positive(cut(&w, 4)) {
        return step2(join(cut(&w, 4), "al"));
    }
    // NLTK's `logi` rule tests the word less its last three letters ("ogi").
    let logi_stem: Vec<char> = cut(&w, 3.min(w.len())).to_vec();
    let logi = move |_: &[char]| positive(&logi_stem);
    let p: Cond = &positive;
    apply(
        w,
        &[
            ("ational", "ate", Some(p)),
            ("tional", "tion", Some(p)),
            ("enci", "ence", Some(p)),
            ("anci", "ance", Some(p)),
            ("izer", "ize", Some(p)),
            ("bli", "ble", Some(p)),
            ("alli", "al", Some(p)),
            ("entli", "ent", Some(p)),
            ("eli", "e", Some(p)),
            ("ousli", "ous", Some(p)),
            ("ization", "ize", Some(p)),
            ("ation", "ate", Some(p)),
            ("ator", "ate", Some(p)),
            ("alism", "al", Some(p)),
            ("iveness", "ive", Some(p)),
            ("fulness", "ful", Some(p)),
            ("ousness", "ous", Some(p)),
            ("aliti", "al", Some(p)),
            ("iviti", "ive", Some(p)),
            ("biliti", "ble", Some(p)),
            ("fulli", "ful", Some(p)),
            ("logi", "log", Some(&logi)),
        ],
    )
}

fn step3(w: Vec<char>) -> Vec<char> {
    let p: Cond = &positive;
    apply(
        w,
        &[
            ("icate", "ic", Some(p)),
            ("ative", "", Some(p)),
            ("alize", "al", Some(p)),
            ("iciti", "ic", Some(p)),
            ("ical", "ic", Some(p)),
            ("ful", "", Some(p)),
            ("ness", "", Some(p)),
        ],
    )
}

fn step4(w: Vec<char>) -> Vec<char> {
    let g: Cond = &above_one;
    let ion = |stem: &[char]| above_one(stem) && matches!(stem.last(), Some('s' | 't'));
    apply(
        w,
        &[
            ("al", "", Some(g)),
            ("ance", "", Some(g)),
            ("ence", "", Some(g)),
            ("er", "", Some(g)),
            ("ic", "", Some(g)),
            ("able", "", Some(g)),
            ("ible", "", Some(g)),
            ("ant", "", Some(g)),
            ("ement", "", Some(g)),
            ("ment", "", Some(g)),
            ("ent", "", Some(g)),
            ("ion", "", Some(&ion)),
            ("ou", "", Some(g)),
            ("ism", "", Some(g)),
            ("ate", "", Some(g)),
            ("iti", "", Some(g)),
            ("ous", "", Some(g)),
            ("ive", "", Some(g)),
            ("ize", "", Some(g)),
        ],
    )
}

fn step5a(w: Vec<char>) -> Vec<char> {
    if ends_with(&w, "e") {
        let stem = cut(&w, 1);
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            return stem.to_vec();
        }
    }
    w
}

fn step5b(w: Vec<char>) -> Vec<char> {
    // The condition reads the word less one letter, not the stem less "ll".
    let less_one: Vec<char> = cut(&w, 1.min(w.len())).to_vec();
    let cond = move |_: &[char]| above_one(&less_one);
    apply(w, &[("ll", "l", Some(&cond))])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from NLTK 3.10.4: `PorterStemmer().stem(w)`.
    #[test]
    fn nltk_by_hand() {
        #[rustfmt::skip]
        let table = [
            ("caresses", "caress"), ("ponies", "poni"), ("ties", "tie"), ("caress", "caress"),
            ("cats", "cat"), ("feed", "feed"), ("agreed", "agre"), ("plastered", "plaster"),
            ("bled", "bled"), ("motoring", "motor"), ("sing", "sing"), ("conflated", "conflat"),
            ("troubled", "troubl"), ("sized", "size"), ("hopping", "hop"), ("tanned", "tan"),
            ("falling", "fall"), ("hissing", "hiss"), ("fizzed", "fizz"), ("failing", "fail"),
            ("filing", "file"), ("happy", "happi"), ("sky", "sky"), ("relational", "relat"),
            ("conditional", "condit"), ("rational", "ration"), ("valenci", "valenc"),
            ("digitizer", "digit"), ("conformabli", "conform"), ("radicalli", "radic"),
            ("differentli", "differ"), ("vileli", "vile"), ("analogousli", "analog"),
            ("vietnamization", "vietnam"), ("predication", "predic"), ("operator", "oper"),
            ("feudalism", "feudal"), ("decisiveness", "decis"), ("hopefulness", "hope"),
            ("callousness", "callous"), ("formaliti", "formal"), ("sensitiviti", "sensit"),
            ("sensibiliti", "sensibl"), ("triplicate", "triplic"), ("formative", "form"),
            ("formalize", "formal"), ("electriciti", "electr"), ("electrical", "electr"),
            ("hopeful", "hope"), ("goodness", "good"), ("revival", "reviv"),
            ("allowance", "allow"), ("inference", "infer"), ("airliner", "airlin"),
            ("adjustable", "adjust"), ("defensible", "defens"), ("irritant", "irrit"),
            ("replacement", "replac"), ("adjustment", "adjust"), ("dependent", "depend"),
            ("adoption", "adopt"), ("homologou", "homolog"), ("communism", "commun"),
            ("activate", "activ"), ("angulariti", "angular"), ("homologous", "homolog"),
            ("effective", "effect"), ("bowdlerize", "bowdler"), ("probate", "probat"),
            ("rate", "rate"), ("cease", "ceas"), ("controll", "control"), ("roll", "roll"),
            ("generalizations", "gener"), ("oscillators", "oscil"), ("dying", "die"),
            ("news", "news"), ("innings", "inning"), ("proceed", "proceed"), ("is", "is"),
            ("as", "as"), ("ied", "i"), ("cried", "cri"), ("dies", "die"),
            ("fully", "fulli"), ("analogi", "analog"), ("paris", "pari"), ("the", "the"),
            ("yyyy", "yyyi"), ("syzygy", "syzygi"), ("Running", "run"), ("1990s", "1990"),
        ];
        for (word, stem) in table {
            assert_eq!(porter_stem(word), stem, "{word}");
        }
    }
}
