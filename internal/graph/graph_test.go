package graph

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// decodeMermaidLabel reads a quoted flowchart label the way Mermaid does:
// the text between the quotes (which holds no '"'), then each entity code
// #name; or #digits; (decimal) replaced by its character; what is left is
// shown as HTML, so a '<' before a letter, '/', '!' or '?' would open a tag
// and an '&name;' would be a character reference.
func decodeMermaidLabel(t *testing.T, q string) string {
	t.Helper()
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' || strings.Contains(q[1:len(q)-1], `"`) {
		t.Fatalf("%s is not one quoted Mermaid label", q)
	}
	named := map[string]string{"quot": `"`, "lt": "<", "gt": ">", "amp": "&"}
	text := regexp.MustCompile(`#\w+;`).ReplaceAllStringFunc(q[1:len(q)-1], func(m string) string {
		name := m[1 : len(m)-1]
		if n, err := strconv.Atoi(name); err == nil {
			return "\x00" + string(rune(n)) // decoded characters are not HTML
		}
		if c, ok := named[name]; ok {
			return "\x00" + c
		}
		return m
	})
	for i := 0; i < len(text); i++ {
		if text[i] == 0 {
			i++
			continue
		}
		rest := text[i:]
		if text[i] == '<' && regexp.MustCompile(`^<[a-zA-Z/!?]`).MatchString(rest) {
			t.Errorf("%s: %q would open an HTML tag", q, rest)
		}
		if text[i] == '&' && regexp.MustCompile(`^&#?\w+;`).MatchString(rest) {
			t.Errorf("%s: %q would be read as an HTML entity", q, rest)
		}
	}
	if strings.HasPrefix(q, "\"`") {
		t.Errorf("%s starts a Markdown string", q)
	}
	return strings.ReplaceAll(text, "\x00", "")
}

// Labels render as written under Mermaid's rules for quoted labels and
// entity codes; comparisons keep their '<' and '>' as is.
func TestMermaidLabelEscaping(t *testing.T) {
	for _, tc := range []struct{ label, want string }{
		{"if ${ input.amount > 100 }", `"if ${ input.amount > 100 }"`},
		{"while ${ n < 3 && m >= 2 }", `"while ${ n < 3 && m >= 2 }"`},
		{`set { note: "say \"hi\"" }`, `"set { note: #34;say \#34;hi\#34;#34; }"`},
		{"if ${ a <b }", `"if ${ a #60;b }"`},
		{"x </script> y", `"x #60;/script> y"`},
		{"tag #gt; and #9829; stay text", `"tag #35;gt; and #35;9829; stay text"`},
		{"a &amp; b &#62; c & d", `"a #38;amp; b #38;#35;62; c & d"`},
		{"`md` label", "\"#96;md` label\""},
		{"two\nlines", `"two lines"`},
		{"end", `"end"`},
	} {
		got := MermaidLabel(tc.label)
		if got != tc.want {
			t.Errorf("MermaidLabel(%q) = %s, want %s", tc.label, got, tc.want)
		}
		want := strings.ReplaceAll(tc.label, "\n", " ")
		if dec := decodeMermaidLabel(t, got); dec != want {
			t.Errorf("%s renders as %q, want %q", got, dec, want)
		}
	}
}
