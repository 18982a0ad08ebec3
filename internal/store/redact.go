package store

import (
	"regexp"
	"strings"
	"unicode"
)

// redactMask replaces a secret in messages.
const redactMask = "xxxxx"

// secretParam matches a key=value pair whose key names a secret (password,
// sslpassword, PGPASSWORD, api_token, client_secret...): in a URL query
// (?password=..., &sslpassword=...) or a keyword/value connection string
// (password=... or password = '...'). A quoted value runs to its closing
// quote (backslash escapes honoured, to the end of the text when unclosed);
// a bare value runs to the next space, so an '&', ':' or '@' inside it is
// masked too.
var secretParam = regexp.MustCompile(`(?i)\b([a-z0-9_.-]*(?:password|passwd|pwd|secret|token)[a-z0-9_.-]*)(\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)`)

// Redact masks every password in text, for messages: the password of a
// URL's user info (postgres://user:xxxxx@host, also when the password holds
// an unescaped '@', ':', '/' or '?', since the user info runs to the last
// '@'), and the value of any key=value pair whose key contains password,
// passwd, pwd, secret or token, in URL queries and keyword/value connection
// strings alike. It errs on the side of masking: text after a URL's ':' and
// up to the last '@' is masked even when it was a host. Text without
// secrets is returned unchanged.
func Redact(text string) string {
	text = redactUserinfo(text)
	return secretParam.ReplaceAllStringFunc(text, func(m string) string {
		sub := secretParam.FindStringSubmatch(m)
		return sub[1] + sub[2] + redactMask
	})
}

// redactUserinfo masks the password of every scheme://user:password@ in
// text. The user info ends at the last '@' before the next space; when that
// stretch has none (a password with a space in it), at the last '@' of the
// line. A stretch whose part before its first ':' holds a '/' is a host and
// path, not user info, and is left alone.
func redactUserinfo(text string) string {
	var b strings.Builder
	rest := text
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		b.WriteString(rest[:i+3])
		rest = rest[i+3:]
		line := rest
		if nl := strings.IndexAny(line, "\r\n"); nl >= 0 {
			line = line[:nl]
		}
		token := line
		if sp := strings.IndexFunc(token, unicode.IsSpace); sp >= 0 {
			token = token[:sp]
		}
		at := strings.LastIndexByte(token, '@')
		if at < 0 {
			at = strings.LastIndexByte(line, '@')
		}
		if at < 0 {
			continue
		}
		user, _, hasPassword := strings.Cut(rest[:at], ":")
		if !hasPassword || strings.ContainsAny(user, "/") || strings.Contains(rest[:at], "://") {
			continue
		}
		b.WriteString(user + ":" + redactMask)
		rest = rest[at:]
	}
}
