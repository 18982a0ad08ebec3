package bench

import (
	"context"
	"testing"
)

// BenchmarkOneActivity runs one-activity workflows end to end (start to
// result, one at a time) on each store, with a worker in the same process.
func BenchmarkOneActivity(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			cfg := Config{Workflows: 1, Concurrency: 1}
			if dialect == "postgres" {
				cfg.DB = postgresURL(b)
			}
			if err := cfg.defaults(); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			t, cleanup, err := prepare(ctx, &cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer cleanup()
			s, err := openSession(ctx, t, cfg.Workers, false, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.close()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := runOne(ctx, s.eng, i); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
