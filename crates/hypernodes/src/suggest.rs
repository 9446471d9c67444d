//! "Did you mean ...?": the closest of a set of known names to a mistyped one.

/// How alike two names must be (normalized Damerau-Levenshtein similarity, 0..1) to be suggested.
const THRESHOLD: f64 = 0.6;

/// The candidate most like `name` (case, `_` and `-` ignored), if any is close enough.
/// Ties go to the first candidate; `name` itself is never suggested.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let target = norm(name);
    let mut best: Option<(&str, f64)> = None;
    for cand in candidates {
        if cand == name {
            continue;
        }
        let c = norm(cand);
        let score = if c == target {
            1.0
        } else {
            strsim::normalized_damerau_levenshtein(&target, &c)
        };
        if score >= THRESHOLD && best.is_none_or(|(_, b)| score > b) {
            best = Some((cand, score));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn finds_typos_and_ignores_strangers() {
        let names = ["index", "query", "top_k"];
        assert_eq!(closest("topk", names), Some("top_k"));
        assert_eq!(closest("TOP_K", names), Some("top_k"));
        assert_eq!(closest("qeury", names), Some("query"));
        assert_eq!(closest("claened", ["cleaned", "text"]), Some("cleaned"));
        assert_eq!(closest("zebra", names), None);
        assert_eq!(closest("top_k", names), None);
        assert_eq!(closest("x", Vec::<&str>::new()), None);
    }
}
