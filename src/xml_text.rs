//! Text for XML documents vifd writes: device descriptions for libvirt, XML API answers.

/// Escapes text for an attribute value (single or double quoted) or element content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_and_markup_are_escaped() {
        assert_eq!(super::escape("a'<b>&\""), "a&apos;&lt;b&gt;&amp;&quot;");
    }
}
