// Package pgtest gives tests a real Postgres: the database named by
// MEMFLOW_TEST_DATABASE_URL (default the local `test` database), a fresh app
// schema or a throwaway database per test, dropped when the test ends. When
// Postgres cannot be reached the test is skipped, except under CI=true,
// where it fails: CI never passes by skipping the database.
//
// It imports pgx only; the store and the engine's tests both use it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the test database when MEMFLOW_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL returns the test database's URL once it has answered.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("MEMFLOW_TEST_DATABASE_URL")
	if u == "" {
		u = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("postgres unreachable at %s: %v", u, err)
		}
		t.Skipf("postgres unreachable: %v", err)
	}
	conn.Close(ctx)
	return u
}

// RandomApp is a fresh app id such as t_1a2b3c4d5e6f; its schema name is
// the same string.
func RandomApp() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t_" + hex.EncodeToString(b)
}

// App returns a fresh app id whose schema in the database at dbURL is
// dropped when the test ends.
func App(t testing.TB, dbURL string) string {
	t.Helper()
	app := RandomApp()
	DropSchemaAtCleanup(t, dbURL, app)
	return app
}

// DropSchemaAtCleanup drops schema (and everything in it) when the test ends.
func DropSchemaAtCleanup(t testing.TB, dbURL, schema string) {
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
}

// Database creates a throwaway database beside the test database and
// returns its URL; it is dropped when the test ends. Tests whose SQL names a
// schema literally (the seed's `my_app.jobs`) use it so runs never collide.
func Database(t testing.TB) string {
	t.Helper()
	base := URL(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	name := "memflow_" + RandomApp()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		admin.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
