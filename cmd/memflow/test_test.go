package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The example flows' tests pass, one line per case, and leave no step
// unreached.
func TestTestCommandExamples(t *testing.T) {
	code, out, errs := execute(t, newTestCmd(), "../../flows/examples", "--cover")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	cases := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "ok   ") {
			cases++
		}
	}
	if cases < 9 {
		t.Fatalf("want a line per case (at least 9), got %d:\n%s", cases, out)
	}
	if lines[len(lines)-1] != "cover: every step ran" {
		t.Fatalf("cover line missing or steps unreached:\n%s", out)
	}
	if !strings.Contains(errs, "cases passed") {
		t.Fatalf("summary missing from stderr: %q", errs)
	}
}

// A failing case exits 1 and prints the expectation's line with want and got.
func TestTestCommandFailure(t *testing.T) {
	code, out, _ := execute(t, newTestCmd(), "../../flowtest/testdata/fail.test.yaml", "--run", "wrong result")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		"FAIL ../../flowtest/testdata/fail.test.yaml: wrong result",
		"fail.test.yaml:14:44: result.trackingId differs",
		`- want: "T-1"`,
		`+ got:  "T-9"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "unmocked activity") {
		t.Errorf("--run did not filter cases:\n%s", out)
	}
}

// A test file with a typo exits 2 with a load error at its line.
func TestTestCommandLoadError(t *testing.T) {
	code, _, errs := execute(t, newTestCmd(), "../../flowtest/testdata/typo.test.yaml")
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, errs)
	}
	if !strings.Contains(errs, `typo.test.yaml:7:5: unknown key "expcet"`) {
		t.Fatalf("no positioned load error:\n%s", errs)
	}
	if code, _, _ = execute(t, newTestCmd(), t.TempDir()); code != 2 {
		t.Fatalf("a folder without test files: exit %d, want 2", code)
	}
}

// --json prints one object per case; --junit writes a suite per file.
func TestTestCommandReports(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "report.xml")
	code, out, _ := execute(t, newTestCmd(), "../../flowtest/testdata/fail.test.yaml", "../../flowtest/testdata/pass.test.yaml", "--json", "--junit", junit)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	pass, fail := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var c struct {
			File     string `json:"file"`
			Case     string `json:"case"`
			Status   string `json:"status"`
			Failures []struct {
				Pos struct {
					Line int `json:"line"`
				} `json:"pos"`
				Message string `json:"message"`
			} `json:"failures"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("line is not JSON: %q: %v", line, err)
		}
		switch c.Status {
		case "pass":
			pass++
		case "fail":
			fail++
			if len(c.Failures) == 0 || c.Failures[0].Pos.Line == 0 || c.Failures[0].Message == "" {
				t.Errorf("failed case %q without a placed failure: %s", c.Case, line)
			}
		default:
			t.Errorf("status %q in %s", c.Status, line)
		}
	}
	if pass != 6 || fail != 3 {
		t.Fatalf("want 6 passed and 3 failed, got %d and %d", pass, fail)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &rep); err != nil {
		t.Fatalf("junit: %v\n%s", err, b)
	}
	if len(rep.Suites) != 2 || rep.Suites[0].Failures != 3 || rep.Suites[0].Tests != 3 || rep.Suites[1].Failures != 0 || rep.Suites[1].Tests != 6 {
		t.Fatalf("junit suites wrong:\n%s", b)
	}
}

// --cover names the steps no selected case reached, at their lines.
func TestTestCommandCoverGaps(t *testing.T) {
	code, out, _ := execute(t, newTestCmd(), "../../flowtest/testdata/pass.test.yaml", "--cover", "--run", "declined")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "order.yaml:") || !strings.Contains(out, "never ran") {
		t.Fatalf("cover did not list unreached steps:\n%s", out)
	}
	if strings.Contains(out, "every step ran") {
		t.Fatalf("cover claims full coverage for one case:\n%s", out)
	}
}
