// Package demo holds deterministic stand-ins for the activities the example
// flows in flows/examples call, so the examples run on any machine without
// network access or API keys. Each answers after a few milliseconds with a
// value derived from its arguments, shaped as the flows read it.
//
// demo imports only the standard library.
package demo

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// Registrar is what Register adds activities to (memflow.Engine and
// activities.Registry both fit).
type Registrar interface {
	Register(name string, fn any) error
}

// Register adds every demo activity to r.
func Register(r Registrar) error {
	acts := []struct {
		name string
		fn   any
	}{
		{"research.perspective", Perspective},
		{"research.verify", Verify},
		{"research.synthesize", Synthesize},
		{"pipeline.loadImagePages", LoadImagePages},
		{"pipeline.extractPage", ExtractPage},
		{"pipeline.validate", Validate},
		{"pipeline.notify", Notify},
	}
	for _, a := range acts {
		if err := r.Register(a.name, a.fn); err != nil {
			return err
		}
	}
	return nil
}

// latency stands in for a remote call.
func latency(ctx context.Context, ms int) error {
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// score maps s to a stable number in [0, 1).
func score(s string) float64 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return float64(h.Sum32()%1000) / 1000
}

// PerspectiveArgs are the arguments of research.perspective.
type PerspectiveArgs struct {
	Stance string `json:"stance"`
	Query  string `json:"query"`
}

// PerspectiveResult is one stance's view of the query.
type PerspectiveResult struct {
	Stance     string   `json:"stance"`
	Summary    string   `json:"summary"`
	Points     []string `json:"points"`
	Confidence float64  `json:"confidence"`
}

// Perspective argues the query from one stance.
func Perspective(ctx context.Context, a PerspectiveArgs) (PerspectiveResult, error) {
	if err := latency(ctx, 5); err != nil {
		return PerspectiveResult{}, err
	}
	c := 0.5 + score(a.Stance+a.Query)/2
	if a.Stance == "skeptical" {
		c = 1 - c/2
	}
	return PerspectiveResult{
		Stance:  a.Stance,
		Summary: fmt.Sprintf("%s view on %q: %s", a.Stance, a.Query, verdict(a.Stance)),
		Points: []string{
			fmt.Sprintf("%s reading of recent evidence about %s", a.Stance, a.Query),
			fmt.Sprintf("%s assessment of the main risks", a.Stance),
		},
		Confidence: round(c),
	}, nil
}

func verdict(stance string) string {
	switch stance {
	case "optimistic":
		return "the evidence points to steady progress"
	case "skeptical":
		return "key claims still lack independent replication"
	}
	return "the evidence is mixed"
}

func round(f float64) float64 { return float64(int(f*100+0.5)) / 100 }

// VerifyArgs are the arguments of research.verify.
type VerifyArgs struct {
	Query string `json:"query"`
}

// VerifyResult is the outcome of checking sources.
type VerifyResult struct {
	Verified bool     `json:"verified"`
	Sources  []string `json:"sources"`
	Notes    string   `json:"notes"`
}

// Verify checks the query against (pretend) sources.
func Verify(ctx context.Context, a VerifyArgs) (VerifyResult, error) {
	if err := latency(ctx, 5); err != nil {
		return VerifyResult{}, err
	}
	ok := score(a.Query) >= 0.3
	return VerifyResult{
		Verified: ok,
		Sources:  []string{"https://example.org/review/" + slug(a.Query), "https://example.org/data/" + slug(a.Query)},
		Notes:    fmt.Sprintf("%d of 2 sources agree", map[bool]int{true: 2, false: 1}[ok]),
	}, nil
}

func slug(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// SynthesizeArgs are the arguments of research.synthesize.
type SynthesizeArgs struct {
	Perspectives map[string]PerspectiveResult `json:"perspectives"`
}

// SynthesisResult weighs the perspectives.
type SynthesisResult struct {
	Assessment string  `json:"assessment"`
	Confidence float64 `json:"confidence"`
}

// Synthesize weighs every perspective into one assessment.
func Synthesize(ctx context.Context, a SynthesizeArgs) (SynthesisResult, error) {
	if err := latency(ctx, 5); err != nil {
		return SynthesisResult{}, err
	}
	if len(a.Perspectives) == 0 {
		return SynthesisResult{Assessment: "no perspectives to weigh", Confidence: 0}, nil
	}
	sum := 0.0
	var stances []string
	for _, name := range []string{"optimistic", "skeptical"} {
		if p, ok := a.Perspectives[name]; ok {
			sum += p.Confidence
			stances = append(stances, name)
		}
	}
	if len(stances) == 0 {
		return SynthesisResult{Assessment: "no known stances to weigh", Confidence: 0}, nil
	}
	c := round(sum / float64(len(stances)))
	return SynthesisResult{
		Assessment: fmt.Sprintf("weighing the %s views, the balance of evidence is %s", strings.Join(stances, " and "), level(c)),
		Confidence: c,
	}, nil
}

func level(c float64) string {
	switch {
	case c >= 0.75:
		return "strong"
	case c >= 0.5:
		return "moderate"
	}
	return "weak"
}

// LoadArgs are the arguments of pipeline.loadImagePages.
type LoadArgs struct {
	DocumentID string `json:"documentId"`
}

// LoadImagePages lists the page images of a document (three pages).
func LoadImagePages(ctx context.Context, a LoadArgs) ([]string, error) {
	if err := latency(ctx, 5); err != nil {
		return nil, err
	}
	pages := make([]string, 3)
	for i := range pages {
		pages[i] = fmt.Sprintf("mem://documents/%s/page-%d.png", a.DocumentID, i+1)
	}
	return pages, nil
}

// ExtractArgs are the arguments of pipeline.extractPage.
type ExtractArgs struct {
	Ref  string `json:"ref"`
	Page int    `json:"page"`
}

// ExtractResult is what one page holds.
type ExtractResult struct {
	Page   int               `json:"page"`
	Ref    string            `json:"ref"`
	Text   string            `json:"text"`
	Fields map[string]string `json:"fields"`
}

// ExtractPage reads the text and fields of one page image.
func ExtractPage(ctx context.Context, a ExtractArgs) (ExtractResult, error) {
	if err := latency(ctx, 3+a.Page); err != nil {
		return ExtractResult{}, err
	}
	return ExtractResult{
		Page:   a.Page,
		Ref:    a.Ref,
		Text:   fmt.Sprintf("text of page %d", a.Page),
		Fields: map[string]string{"section": fmt.Sprintf("S%d", a.Page)},
	}, nil
}

// ValidateArgs are the arguments of pipeline.validate.
type ValidateArgs struct {
	Info []ExtractResult `json:"info"`
}

// ValidateResult is the outcome of validating extracted pages.
type ValidateResult struct {
	Valid  bool     `json:"valid"`
	Pages  int      `json:"pages"`
	Issues []string `json:"issues"`
}

// Validate checks that every page yielded text.
func Validate(ctx context.Context, a ValidateArgs) (ValidateResult, error) {
	if err := latency(ctx, 5); err != nil {
		return ValidateResult{}, err
	}
	res := ValidateResult{Valid: true, Pages: len(a.Info), Issues: []string{}}
	for _, p := range a.Info {
		if p.Text == "" {
			res.Valid = false
			res.Issues = append(res.Issues, fmt.Sprintf("page %d has no text", p.Page))
		}
	}
	return res, nil
}

// NotifyArgs are the arguments of pipeline.notify.
type NotifyArgs struct {
	DocumentID string `json:"documentId"`
	Status     string `json:"status"`
}

// NotifyResult confirms a notification.
type NotifyResult struct {
	Notified bool   `json:"notified"`
	Channel  string `json:"channel"`
	Message  string `json:"message"`
}

// Notify tells the document's owner its status.
func Notify(ctx context.Context, a NotifyArgs) (NotifyResult, error) {
	if err := latency(ctx, 3); err != nil {
		return NotifyResult{}, err
	}
	return NotifyResult{Notified: true, Channel: "email",
		Message: fmt.Sprintf("document %s is %s", a.DocumentID, a.Status)}, nil
}
