package memflow_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/memflow/memflow"
)

// Config.HTTPAllow and Config.HTTPMaxBody govern the built-in http.request
// the engine's workers run; a bad entry fails Open before the store is
// touched.
func TestConfigHTTPPolicy(t *testing.T) {
	const flow = `
memflow: v1
workflows:
  fetch:
    entity: page
    input: { type: object, required: [url] }
    steps:
      - id: get
        activity: http.request
        args: { url: "${ input.url }" }
      - set: { body: "${ steps.get.body }" }
`
	eachStore(t, func(t *testing.T, d db) {
		var hits atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			_, _ = w.Write([]byte("internal answer"))
		}))
		defer srv.Close()
		for i, tc := range []struct {
			cfg  memflow.Config
			want string // the entity's body, or the failure's message
			ok   bool
		}{
			{memflow.Config{}, "internal answer", true},
			{memflow.Config{HTTPAllow: []string{strings.TrimPrefix(srv.URL, "http://")}}, "internal answer", true},
			{memflow.Config{HTTPAllow: []string{"example.com"}}, `host "127.0.0.1" is not on the http allow-list (example.com)`, false},
			{memflow.Config{HTTPMaxBody: 8}, "response body exceeds 8 bytes", false},
		} {
			tc.cfg.App = d.App
			eng, err := memflow.Open(context.Background(), d.URL, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			loadFlow(t, eng, flow)
			stop := work(t, eng, memflow.WorkerConfig{})
			before := hits.Load()
			id := start(t, eng, "fetch", map[string]any{"url": srv.URL + "/"}, memflow.WithID("f"+string(rune('a'+i))))
			if tc.ok {
				jsonEq(t, result(t, eng, id), `{"body":"internal answer"}`)
			} else if we := failure(t, eng, id); !strings.Contains(we.Message, tc.want) {
				t.Errorf("%+v: failed with %q, want %q", tc.cfg, we.Message, tc.want)
			}
			if strings.Contains(tc.want, "allow-list") && hits.Load() != before {
				t.Errorf("%+v: the refused service was reached", tc.cfg)
			}
			stop()
			eng.Close()
		}
	})
	dir := t.TempDir()
	_, err := memflow.Open(context.Background(), "sqlite:"+filepath.Join(dir, "x.db"), memflow.Config{HTTPAllow: []string{"ok.com", "10.0.0.0/40"}})
	if err == nil || !strings.Contains(err.Error(), `http allow-list entry "10.0.0.0/40"`) {
		t.Errorf("bad entry: %v", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "x.db")); serr == nil {
		t.Error("a bad allow-list still created the database")
	}
	if _, err := memflow.Open(context.Background(), "sqlite:"+filepath.Join(dir, "y.db"), memflow.Config{HTTPMaxBody: -1}); err == nil {
		t.Error("negative HTTPMaxBody accepted")
	}
}
