//! The text rules of the authors' `utils.py`, character for character: splitting a nudge into
//! words, the repetition checks, and the clean-up of the final answer.

/// A nudge split as `completion_with_nudging` splits it: the leading spaces, then the rest split
/// on single spaces (`str.split(" ")`, so runs of spaces give empty words; newlines stay inside
/// words).
pub(crate) fn split_nudge(text: &str) -> (&str, Vec<&str>) {
    let rest = text.trim_start_matches(' ');
    let spaces = &text[..text.len() - rest.len()];
    (spaces, rest.split(' ').collect())
}

/// `repetition_check`: a new base completion of more than five space-separated pieces that
/// already occurs in the text so far.
pub(crate) fn repeats_text(new_completion: &str, full_prefix: &str) -> bool {
    const SUBSEQ_LEN: usize = 5;
    new_completion.split(' ').count() > SUBSEQ_LEN && full_prefix.contains(new_completion)
}

/// `has_repeated`: the last `length` characters (≥ 30) also stand right before themselves.
fn has_repeated(chars: &[char], length: usize) -> bool {
    if length < 30 {
        return false;
    }
    // Python slicing: s[-length:] is the whole string when length > len(s).
    let n = chars.len();
    let cut = n.saturating_sub(length);
    let suffix = &chars[cut..];
    let head = if length > n {
        &chars[..0]
    } else {
        &chars[..cut]
    };
    head.ends_with(suffix)
}

/// `find_longest_repeated_suffix`: the authors' binary search over the suffix length (kept as
/// written, although the property it searches is not monotone), in characters.
fn longest_repeated_suffix(chars: &[char]) -> usize {
    let (mut left, mut right) = (0i64, chars.len() as i64);
    let mut result = 0;
    while left <= right {
        let mid = (left + right) / 2;
        if has_repeated(chars, mid as usize) {
            result = mid as usize;
            left = mid + 1;
        } else {
            right = mid - 1;
        }
    }
    result
}

/// `remove_redundant_repetitions`: strips surrounding whitespace, then drops a repeated suffix
/// (≥ 30 characters) while there is one. Returns the kept byte range of `s`: the result is
/// always a slice of the input.
pub(crate) fn clean_range(s: &str) -> std::ops::Range<usize> {
    let start = s.len() - s.trim_start().len();
    let mut end = s.trim_end().len().max(start);
    loop {
        let chars: Vec<char> = s[start..end].chars().collect();
        let cut = longest_repeated_suffix(&chars);
        if cut == 0 {
            return start..end;
        }
        let drop: usize = chars[chars.len() - cut..]
            .iter()
            .map(|c| c.len_utf8())
            .sum();
        end -= drop;
    }
}

/// Byte offset of the first stop string in `text`.
pub(crate) fn find_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops.iter().filter_map(|s| text.find(s.as_str())).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(s: &str) -> &str {
        &s[clean_range(s)]
    }

    #[test]
    fn nudges_split_like_python_str_split() {
        assert_eq!(
            split_nudge(" Sure! Velmora"),
            (" ", vec!["Sure!", "Velmora"])
        );
        assert_eq!(split_nudge("Sure!"), ("", vec!["Sure!"]));
        assert_eq!(split_nudge("a  b"), ("", vec!["a", "", "b"]));
        assert_eq!(split_nudge("a\nb c"), ("", vec!["a\nb", "c"]));
        assert_eq!(split_nudge(""), ("", vec![""]));
        assert_eq!(split_nudge("  "), ("  ", vec![""]));
    }

    #[test]
    fn repetition_needs_six_pieces_already_written() {
        let prefix = "one two three four five six seven";
        assert!(repeats_text("two three four five six seven", prefix));
        assert!(
            !repeats_text("three four five six seven", prefix),
            "5 pieces"
        );
        assert!(!repeats_text("two three four five six eight", prefix));
    }

    #[test]
    fn redundant_repetitions_are_removed_as_the_authors_do() {
        // Expected values from the authors' `remove_redundant_repetitions` run in Python: its
        // binary search is not monotone, so it misses most repeats that follow other text.
        let unit = "Velmora Quist lives in Dranholt. ";
        let three = format!("  Sure! {unit}{unit}{unit}");
        assert_eq!(clean(&three), three.trim());
        let four = format!(" {}", unit.repeat(4));
        assert_eq!(clean(&four), four.trim());
        assert_eq!(clean(&"x".repeat(64)), "x".repeat(32));
        assert_eq!(clean(&"é".repeat(70)), "é".repeat(35));
        assert_eq!(clean("ha ha ha ha ha "), "ha ha ha ha ha");
        assert_eq!(clean(" \n "), "");
    }

    #[test]
    fn the_first_stop_string_wins() {
        let stops = vec![".".to_string(), "\n".to_string()];
        assert_eq!(find_stop("a\nb.c", &stops), Some(1));
        assert_eq!(find_stop("abc", &stops), None);
    }
}
