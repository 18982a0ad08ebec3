package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestOthersListen checks that NOTIFY is only skipped while no other
// backend listens on the app's channel.
func TestOthersListen(t *testing.T) {
	url := os.Getenv("MEMFLOW_TEST_DATABASE_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := pgx.Connect(ctx, url)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres unreachable at %s: %v", url, err)
		}
		t.Skipf("postgres unreachable: %v", err)
	}
	defer raw.Close(context.Background())
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	app := "t_" + hex.EncodeToString(b)
	defer raw.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{SchemaName(app)}.Sanitize()+" CASCADE")
	st, err := Open(ctx, url, app)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pb := st.(*sqlStore).b.(*pgBackend)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	if _, err := st.Wakeups(wctx); err != nil {
		t.Fatal(err)
	}
	ask := func() bool {
		pb.mu.Lock()
		pb.othersSeen = time.Time{}
		pb.mu.Unlock()
		return pb.othersListen(ctx)
	}
	if ask() {
		t.Error("only this store's own listener listens, yet othersListen says others do")
	}
	if _, err := raw.Exec(ctx, pb.listenSQL()); err != nil {
		t.Fatal(err)
	}
	if !ask() {
		t.Error("another connection listens, yet othersListen says none does")
	}
}
