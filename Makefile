# Developer entry points; the README's test command is `make test`'s recipe.
.PHONY: test lint bench fuzz run

test:
	go test -race -count=1 -timeout 25m ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...

# Per-layer Go benchmarks (parse, compile, eval, store transition, end to end)
# in benchstat's format: `make bench; mv bench.txt old.txt; ...; benchstat old.txt bench.txt`.
# BENCH picks benchmarks, COUNT repeats them. End-to-end numbers: BENCHMARKS.md.
BENCH ?= .
COUNT ?= 6
bench:
	go test -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) -timeout 30m ./... | tee bench.txt

fuzz:
	go test -run '^$$' -fuzz FuzzParsePath -fuzztime 2m ./internal/store
	go test -run '^$$' -fuzz FuzzLoad -fuzztime 5m ./compiler

run:
	go run ./cmd/memflow run flows/examples/research-agent.yaml --args '{"query":"is solid-state battery tech ready?"}'
