package compiler

import (
	"fmt"
	"sort"
	"strings"
)

// EditDistance is the edit distance between a and b (bytes): insertions,
// deletions, substitutions and swaps of two neighbouring letters. Strings
// longer than 64 bytes are only told equal (0) or not (the longer length).
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return max(len(a), len(b))
	}
	before := make([]int, len(b)+1) // the row above prev
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], before[j-2]+1) // two letters swapped
			}
		}
		before, prev, cur = prev, cur, before
	}
	return prev[len(b)]
}

// nearest returns up to three candidates closest to name, within a distance
// that grows with the name's length.
func nearest(name string, candidates []string) []string {
	limit := max(2, len(name)/3)
	type cand struct {
		s string
		d int
	}
	var cs []cand
	seen := map[string]bool{}
	for _, c := range candidates {
		if seen[c] || c == name {
			continue
		}
		seen[c] = true
		d := EditDistance(strings.ToLower(name), strings.ToLower(c))
		if d <= limit {
			cs = append(cs, cand{c, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].s < cs[j].s
	})
	var out []string
	for i := 0; i < len(cs) && i < 3; i++ {
		out = append(out, cs[i].s)
	}
	return out
}

// didYouMean renders " (did you mean "x"?)" or "" when nothing is near.
func didYouMean(name string, candidates []string) string {
	near := nearest(name, candidates)
	if len(near) == 0 {
		return ""
	}
	q := make([]string, len(near))
	for i, n := range near {
		q[i] = fmt.Sprintf("%q", n)
	}
	return " (did you mean " + strings.Join(q, " or ") + "?)"
}
