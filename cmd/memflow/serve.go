package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/internal/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
)

// newServeCmd is `memflow serve`: the HTTP API, the console, health and
// metrics, and with --flows a worker and the flows' (hot) loading.
func newServeCmd(g *globals) *cobra.Command {
	var addr, token, readToken, maxBody string
	var flows []string
	var watch, noWorker, allowEdit bool
	var concurrency int
	cmd := &cobra.Command{
		Use:   "serve [--addr HOST:PORT] [--flows DIR [--watch]]",
		Short: "Serve the HTTP API and the web console (and with --flows, run the flows)",
		Long: `serve answers the JSON API under /api/v1 (GET /api/v1/openapi.json describes it),
/healthz, /readyz and /metrics, and the web console at /.

With --flows it also loads the flows (--watch reloads them on change) and runs a
worker in the same process, so "memflow serve --flows flows/ --watch" is all a flow
author needs; --no-worker serves the API and console only. --allow-edit lets the
console's editor save the flow files (a file that does not load is refused).

Bound to a loopback address it runs without a token; bound to anything else it
refuses to start unless --token (or MEMFLOW_TOKEN) is set. With a token every API
call needs "Authorization: Bearer TOKEN"; --read-token (MEMFLOW_READ_TOKEN) sees
everything and changes nothing.`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			g.logDefault = slog.LevelInfo
			if token == "" {
				token = os.Getenv("MEMFLOW_TOKEN")
			}
			if readToken == "" {
				readToken = os.Getenv("MEMFLOW_READ_TOKEN")
			}
			if token != "" && token == readToken {
				return usageErr("serve: --token and --read-token must differ")
			}
			if watch && len(flows) == 0 {
				return usageErr("serve: --watch needs --flows")
			}
			if allowEdit && len(flows) == 0 {
				return usageErr("serve: --allow-edit needs --flows")
			}
			limit, err := parseSize("max-body", maxBody)
			if err != nil {
				return err
			}
			if !loopback(addr) && token == "" {
				return usageErr("serve: %s is not a loopback address: set --token (or MEMFLOW_TOKEN) to serve beyond this machine", addr)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			g.metrics = reg
			return g.withEngine(cmd, func(ctx context.Context, eng *memflow.Engine) error {
				logger, err := g.logger(cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				if len(flows) > 0 && !watch {
					if err := eng.LoadFlows(ctx, flows...); err != nil {
						return err
					}
				}
				if watch {
					stop, err := startWatch(ctx, eng, flows, cmd.ErrOrStderr())
					if err != nil {
						return err
					}
					defer stop()
				}
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return fmt.Errorf("serve: %w", err)
				}
				handler := server.New(eng, server.Options{Token: token, ReadToken: readToken, MaxBody: limit,
					FlowPaths: flows, AllowEdit: allowEdit, Activities: eng.Activities(), Logger: logger,
					Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})})
				srv := &http.Server{
					Handler:           handler,
					ReadHeaderTimeout: 5 * time.Second,
					ReadTimeout:       30 * time.Second,
					WriteTimeout:      90 * time.Second, // event streams move their own deadline on
					IdleTimeout:       2 * time.Minute,
					MaxHeaderBytes:    64 << 10,
					ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
				}
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				workerDone := make(chan error, 1)
				if len(flows) > 0 && !noWorker {
					go func() { workerDone <- eng.Run(ctx, memflow.WorkerConfig{Concurrency: concurrency}) }()
				} else {
					close(workerDone)
				}
				served := make(chan error, 1)
				go func() { served <- srv.Serve(ln) }()
				fmt.Fprintf(cmd.ErrOrStderr(), "memflow console at http://%s/ (API at /api/v1, workflows: %v)\n", ln.Addr(), eng.Workflows())
				select {
				case <-ctx.Done():
				case err = <-served:
				case err = <-workerDone:
					if err == nil && len(flows) > 0 && !noWorker {
						err = errors.New("serve: the worker stopped")
					}
				}
				shut, cancelShut := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancelShut()
				handler.Close() // event streams end; Shutdown then waits only for short requests
				srv.Shutdown(shut)
				cancel()
				<-workerDone
				if errors.Is(err, http.ErrServerClosed) {
					err = nil
				}
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on (a non-loopback address needs --token)")
	f.StringSliceVar(&flows, "flows", nil, "flow files or folders to load; also runs a worker unless --no-worker")
	f.BoolVar(&watch, "watch", false, "reload flow files when they change")
	f.BoolVar(&noWorker, "no-worker", false, "serve the API and console only: run no worker in this process")
	f.BoolVar(&allowEdit, "allow-edit", false, "let the console's editor save flow files under --flows")
	f.StringVar(&token, "token", "", "bearer token every API call needs (default $MEMFLOW_TOKEN)")
	f.StringVar(&readToken, "read-token", "", "bearer token that reads everything and changes nothing (default $MEMFLOW_READ_TOKEN)")
	f.StringVar(&maxBody, "max-body", "1MiB", "largest request body, in bytes or with KiB/MiB")
	f.IntVar(&concurrency, "concurrency", 10, "tasks in flight at once in the worker")
	g.http.add(cmd)
	return cmd
}

// loopback reports whether addr (HOST:PORT) listens on this machine only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
