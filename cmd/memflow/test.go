package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/memflow/memflow"
	"github.com/memflow/memflow/flowtest"
	"github.com/memflow/memflow/internal/watch"
	"github.com/spf13/cobra"
)

// testFlags are the flags of `memflow test`.
type testFlags struct {
	run     string
	asJSON  bool
	junit   string
	cover   bool
	watch   bool
	verbose bool
}

// newTestCmd is `memflow test [PATH...]`: run flow test files.
func newTestCmd() *cobra.Command {
	var f testFlags
	cmd := &cobra.Command{
		Use:   "test [PATH...]",
		Short: "Run flow tests (*.test.yaml) with mocked activities and a virtual clock",
		Long: `Test runs the cases of every *.test.yaml file under PATH (default: the current folder)
on the real engine, over an embedded store in a temporary folder, with the activities
replaced by the mocks each case gives and a virtual clock that jumps over sleeps,
wait timeouts and retry back-off. It prints one line per case; a failed expectation
is printed with the file:line:col of the expectation, what was wanted and what came.
Exit status: 0 every case passed, 1 a case failed, 2 a test file or flow did not load.
See docs/testing.md.`,
		RunE: func(cmd *cobra.Command, paths []string) error {
			if len(paths) == 0 {
				paths = []string{"."}
			}
			var match *regexp.Regexp
			if f.run != "" {
				var err error
				if match, err = regexp.Compile(f.run); err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--run: %v", err)}
				}
			}
			if !f.watch {
				return runTests(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), paths, match, &f)
			}
			return watchTests(cmd, paths, match, &f)
		},
	}
	cmd.Flags().StringVar(&f.run, "run", "", "run only the cases whose name matches this regular expression")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print one JSON object per case instead of lines")
	cmd.Flags().StringVar(&f.junit, "junit", "", "also write a JUnit XML report to this file")
	cmd.Flags().BoolVar(&f.cover, "cover", false, "list the steps no case reached")
	cmd.Flags().BoolVar(&f.watch, "watch", false, "run again whenever a flow or test file changes")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "also print each case's instance id")
	return cmd
}

// runTests runs every test file at paths and reports.
func runTests(ctx context.Context, stdout, stderr io.Writer, paths []string, match *regexp.Regexp, f *testFlags) error {
	files, err := flowtest.FindFiles(paths)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if len(files) == 0 {
		return &exitError{code: 2, err: fmt.Errorf("no test files (*.test.yaml) in %s", strings.Join(paths, ", "))}
	}
	var cover *flowtest.Coverage
	if f.cover {
		cover = flowtest.NewCoverage()
	}
	var all []flowtest.CaseResult
	loadFailed, failed := 0, 0
	for _, path := range files {
		tf, ds := flowtest.LoadFile(path)
		if ds.HasErrors() {
			renderDiagnostics(stderr, ds)
			loadFailed++
			continue
		}
		results, err := flowtest.Run(ctx, tf, flowtest.RunOptions{Match: match, Cover: cover})
		if err != nil {
			var fe *memflow.FlowError
			if errors.As(err, &fe) {
				for _, d := range fe.Diagnostics {
					fmt.Fprintln(stderr, d)
				}
			} else {
				fmt.Fprintf(stderr, "%s: %v\n", path, err)
			}
			loadFailed++
			continue
		}
		for _, r := range results {
			if !r.Passed {
				failed++
			}
			printCase(stdout, r, f)
		}
		all = append(all, results...)
	}
	if cover != nil {
		un := cover.Unreached()
		for _, line := range un {
			fmt.Fprintln(stdout, line)
		}
		if len(un) == 0 && !f.asJSON {
			fmt.Fprintln(stdout, "cover: every step ran")
		}
	}
	if f.junit != "" {
		if err := writeJUnit(f.junit, all); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("--junit: %w", err)}
		}
	}
	switch {
	case loadFailed > 0:
		return &exitError{code: 2, err: fmt.Errorf("test: %d %s did not load", loadFailed, plural(loadFailed, "file", "files"))}
	case failed > 0:
		return &exitError{code: 1, err: fmt.Errorf("test: %d of %d %s failed", failed, len(all), plural(len(all), "case", "cases"))}
	}
	if !f.asJSON {
		fmt.Fprintf(stderr, "ok: %d %s passed\n", len(all), plural(len(all), "case", "cases"))
	}
	return nil
}

// printCase prints one case's line (and its failures), or its JSON object.
func printCase(w io.Writer, r flowtest.CaseResult, f *testFlags) {
	if f.asJSON {
		type jsonCase struct {
			flowtest.CaseResult
			Status string  `json:"status"`
			Millis float64 `json:"ms"`
		}
		st := "pass"
		if !r.Passed {
			st = "fail"
		}
		b, _ := json.Marshal(jsonCase{r, st, float64(r.Duration.Microseconds()) / 1000})
		fmt.Fprintln(w, string(b))
		return
	}
	mark := "ok  "
	if !r.Passed {
		mark = "FAIL"
	}
	fmt.Fprintf(w, "%s %s: %s (%s)\n", mark, r.File, r.Case, r.Duration.Round(time.Millisecond))
	if f.verbose && r.Instance != "" {
		fmt.Fprintf(w, "     instance %s\n", r.Instance)
	}
	for _, fl := range r.Failures {
		for _, line := range strings.Split(fl.String(), "\n") {
			fmt.Fprintf(w, "     %s\n", line)
		}
	}
}

// writeJUnit writes results as JUnit XML: a suite per test file.
func writeJUnit(path string, results []flowtest.CaseResult) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
	}
	type suite struct {
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	type suites struct {
		XMLName xml.Name `xml:"testsuites"`
		Suites  []*suite `xml:"testsuite"`
	}
	var out suites
	byFile := map[string]*suite{}
	for _, r := range results {
		s := byFile[r.File]
		if s == nil {
			s = &suite{Name: r.File}
			byFile[r.File] = s
			out.Suites = append(out.Suites, s)
		}
		tc := testcase{Name: r.Case, Classname: r.File, Time: fmt.Sprintf("%.3f", r.Duration.Seconds())}
		if !r.Passed {
			var lines []string
			for _, f := range r.Failures {
				lines = append(lines, f.String())
			}
			tc.Failure = &failure{Message: r.Failures[0].Message, Text: strings.Join(lines, "\n")}
			s.Failures++
		}
		s.Tests++
		s.Cases = append(s.Cases, tc)
	}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644)
}

// watchTests runs the tests, then again after every change to a flow or
// test file under paths or the flows they load, until interrupted.
func watchTests(cmd *cobra.Command, paths []string, match *regexp.Regexp, f *testFlags) error {
	ctx := cmd.Context()
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	once := func() {
		if err := runTests(ctx, out, errw, paths, match, f); err != nil {
			fmt.Fprintln(errw, err)
		}
		fmt.Fprintln(errw, "watching for changes (Ctrl-C stops)")
	}
	watched := append([]string(nil), paths...)
	if files, err := flowtest.FindFiles(paths); err == nil {
		watched = append(watched, files...)
		for _, p := range files {
			if tf, ds := flowtest.LoadFile(p); !ds.HasErrors() {
				watched = append(watched, tf.Flows...)
			}
		}
	}
	w, err := watch.New(watch.Config{Paths: watched, OnError: func(err error) { fmt.Fprintln(errw, err) }})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer w.Close()
	once()
	err = w.Run(ctx, func(context.Context, []string) { once() })
	if ctx.Err() != nil {
		return nil
	}
	return err
}
