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
            // An attribute value's tab and line breaks read back as spaces (XML's
            // attribute-value normalisation) unless written as references: a bridge name
            // with a tab would name another bridge in the removal XML.
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
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

    #[test]
    fn whitespace_an_attribute_would_lose_is_a_reference() {
        assert_eq!(super::escape("a\tb\r\nc d"), "a&#9;b&#13;&#10;c d");
    }
}
