package store_test

import (
	"strings"
	"testing"

	"github.com/memflow/memflow/internal/store"
)

// Every form a password takes in a database URL or a message about one is
// masked; everything else is left as it was.
func TestRedact(t *testing.T) {
	cases := []struct{ in, want string }{
		// URL user info.
		{"postgres://u:S3cr3t@host/db", "postgres://u:xxxxx@host/db"},
		{"postgresql://u:S3cr3t@host:5432/db?sslmode=disable", "postgresql://u:xxxxx@host:5432/db?sslmode=disable"},
		{"postgres://u:S3@cr3t@host/db", "postgres://u:xxxxx@host/db"},   // unescaped '@'
		{"postgres://u:S3:cr3t@host/db", "postgres://u:xxxxx@host/db"},   // ':'
		{"postgres://u:S3/cr3t@host/db", "postgres://u:xxxxx@host/db"},   // '/'
		{"postgres://u:S3?cr3t@host/db", "postgres://u:xxxxx@host/db"},   // '?'
		{"postgres://u:S3%40cr3t@host/db", "postgres://u:xxxxx@host/db"}, // escaped
		{"postgres://u:S3cr3t@h1:5432,h2:5433/db", "postgres://u:xxxxx@h1:5432,h2:5433/db"},
		{`parse "postgres://u:S3 cr3t@host/db": net/url: invalid userinfo`, `parse "postgres://u:xxxxx@host/db": net/url: invalid userinfo`}, // a space
		{"a postgres://u:S3cr3t@h/a and postgres://v:T0ps3cr3t@h/b", "a postgres://u:xxxxx@h/a and postgres://v:xxxxx@h/b"},
		// Query parameters.
		{"postgres://u@host/db?password=S3cr3t", "postgres://u@host/db?password=xxxxx"},
		{"postgres://u@host/db?sslmode=disable&password=S3cr3t", "postgres://u@host/db?sslmode=disable&password=xxxxx"},
		{"postgres://u@host/db?sslpassword=S3cr3t", "postgres://u@host/db?sslpassword=xxxxx"},
		{"postgres://u@host/db?PASSWORD=S3&cr3t", "postgres://u@host/db?PASSWORD=xxxxx"}, // unescaped '&'
		{"https://api.example.com/x?api_token=S3cr3t", "https://api.example.com/x?api_token=xxxxx"},
		// Keyword/value connection strings and settings.
		{"host=h port=5432 password=S3cr3t dbname=d", "host=h port=5432 password=xxxxx dbname=d"},
		{"host=h password='S3 cr3t' dbname=d", "host=h password=xxxxx dbname=d"},
		{`host=h password = 'it\'s S3cr3t' dbname=d`, "host=h password = xxxxx dbname=d"},
		{"host=h password='S3 cr3t", "host=h password=xxxxx"}, // unclosed quote
		{"PGPASSWORD=S3cr3t client_secret=S3cr3t", "PGPASSWORD=xxxxx client_secret=xxxxx"},
		{`unsupported database url "host=h password=S3\"cr3t"`, `unsupported database url "host=h password=xxxxx`},
		// The driver's own messages, already masked by it.
		{"cannot parse `postgres://u:xxxxx@host:x/db`: invalid port", "cannot parse `postgres://u:xxxxx@host:x/db`: invalid port"},
		// A bare value runs to the next space: the closing backtick goes too.
		{"cannot parse `host=h password=xxxxx`: invalid keyword/value", "cannot parse `host=h password=xxxxx invalid keyword/value"},
		// Nothing to mask.
		{"postgres://u@host:5432/db?sslmode=disable", "postgres://u@host:5432/db?sslmode=disable"},
		{"failed to connect to `user=u database=d`: 127.0.0.1:1 (127.0.0.1): dial error: connection refused", "failed to connect to `user=u database=d`: 127.0.0.1:1 (127.0.0.1): dial error: connection refused"},
		{`sqlite file "/tmp/x.db" holds app "memflow", not "other"`, `sqlite file "/tmp/x.db" holds app "memflow", not "other"`},
		{"password=", "password="},
	}
	for _, c := range cases {
		got := store.Redact(c.in)
		if got != c.want {
			t.Errorf("Redact(%q)\n  = %q\nwant %q", c.in, got, c.want)
		}
		for _, part := range []string{"S3", "cr3t"} {
			if strings.Contains(got, part) {
				t.Errorf("Redact(%q) = %q keeps %q", c.in, got, part)
			}
		}
		if again := store.Redact(got); again != got {
			t.Errorf("Redact is not idempotent on %q: %q", got, again)
		}
	}
}
