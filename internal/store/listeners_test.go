package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/memflow/memflow/internal/pgtest"
)

// TestOthersListen checks that NOTIFY is only skipped while no other
// backend listens on the app's channel.
func TestOthersListen(t *testing.T) {
	url := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	app := pgtest.App(t, url)
	raw, err := pgx.Connect(ctx, url) // another backend, to LISTEN on the channel
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(context.Background())
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
