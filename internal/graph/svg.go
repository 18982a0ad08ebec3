package graph

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// SVG layout, in pixels.
const (
	nodeW, nodeH = 176, 36
	gapX, gapY   = 24, 34
	clusterGap   = 48
	titleH       = 28
	labelRunes   = 26 // longer labels are cut; the whole text is the node's <title>
)

type placed struct {
	x, y    float64 // centre
	cluster int
}

// SVG writes the picture as a standalone SVG document laid out in layers:
// each graph is a column of rows, a node's row its distance from the
// graph's start, graphs side by side. Every node is a <g class="node
// shape-SHAPE" data-graph="workflow NAME|hook NAME" data-step="LABEL"> so a
// page can mark the steps an instance took (data-step is the state's label,
// as history rows name it), and
// carries its full text as a <title>. Colours come from CSS classes and
// currentColor, so the page's stylesheet themes it.
func (p *Picture) SVG(w io.Writer) error {
	pos := map[string]placed{}
	x0, height := 0.0, 0.0
	for ci, c := range p.clusters {
		layers := p.layers(c)
		widest := 1
		for _, l := range layers {
			widest = max(widest, len(l))
		}
		cw := float64(widest)*(nodeW+gapX) - gapX
		for li, l := range layers {
			rowW := float64(len(l))*(nodeW+gapX) - gapX
			for ni, id := range l {
				pos[id] = placed{
					x:       x0 + (cw-rowW)/2 + float64(ni)*(nodeW+gapX) + nodeW/2,
					y:       titleH + float64(li)*(nodeH+gapY) + nodeH/2,
					cluster: ci,
				}
			}
		}
		height = max(height, titleH+float64(len(layers))*(nodeH+gapY))
		x0 += cw + clusterGap
	}
	width := max(x0-clusterGap, nodeW) + 2*gapX
	height += 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph" viewBox="%d 0 %d %d" width="%d" height="%d" font-family="system-ui, sans-serif" font-size="12">`+"\n",
		-gapX, int(width), int(height), int(width), int(height))
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="currentColor"/></marker></defs>` + "\n")
	x0 = 0
	for _, c := range p.clusters {
		fmt.Fprintf(&b, `<text class="cluster-title" x="%d" y="16" font-weight="600">%s</text>`+"\n", int(x0), html.EscapeString(c.title))
		right := x0
		for _, n := range c.nodes {
			if q, ok := pos[n.id]; ok {
				right = max(right, q.x+nodeW/2)
			}
		}
		x0 = right + clusterGap
	}
	for _, e := range p.edges {
		e, ok := p.resolve(e)
		if !ok {
			continue
		}
		a, okA := pos[e.from]
		z, okZ := pos[e.to]
		if !okA || !okZ {
			continue
		}
		cls := "edge"
		if e.style != "" {
			cls += " edge-" + e.style
		}
		var d string
		var lx, ly float64
		switch {
		case z.y > a.y: // down to a later row
			y1, y2 := a.y+nodeH/2, z.y-nodeH/2
			mid := (y1 + y2) / 2
			d = fmt.Sprintf("M%.0f,%.0f C%.0f,%.0f %.0f,%.0f %.0f,%.0f", a.x, y1, a.x, mid, z.x, mid, z.x, y2)
			lx, ly = (a.x+z.x)/2, mid
		default: // back up (a loop) or across a row: around the right side
			x1, x2 := a.x+nodeW/2, z.x+nodeW/2
			out := max(x1, x2) + gapX
			d = fmt.Sprintf("M%.0f,%.0f C%.0f,%.0f %.0f,%.0f %.0f,%.0f", x1, a.y, out, a.y, out, z.y, x2, z.y)
			lx, ly = out-4, (a.y+z.y)/2
		}
		fmt.Fprintf(&b, `<path class="%s" d="%s" fill="none" stroke="currentColor" marker-end="url(#arrow)" data-from="%s" data-to="%s"/>`+"\n",
			cls, d, e.from, e.to)
		if e.label != "" {
			fmt.Fprintf(&b, `<text class="edge-label" x="%.0f" y="%.0f" text-anchor="middle" font-size="10">%s</text>`+"\n",
				lx, ly, html.EscapeString(e.label))
		}
	}
	for _, c := range p.clusters {
		for _, n := range c.nodes {
			q := pos[n.id]
			fmt.Fprintf(&b, `<g class="node shape-%s" id="%s" data-graph="%s" data-step="%s">`, n.shape, n.id, html.EscapeString(c.title), html.EscapeString(n.step))
			fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(n.label))
			x, y := q.x-nodeW/2, q.y-nodeH/2
			switch n.shape {
			case "decision", "loop":
				fmt.Fprintf(&b, `<polygon points="%.0f,%.0f %.0f,%.0f %.0f,%.0f %.0f,%.0f %.0f,%.0f %.0f,%.0f"/>`,
					x, q.y, x+12, y, x+nodeW-12, y, x+nodeW, q.y, x+nodeW-12, y+nodeH, x+12, y+nodeH)
			case "terminal", "round":
				fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%d" height="%d" rx="18"/>`, x, y, nodeW, nodeH)
			case "wait":
				fmt.Fprintf(&b, `<polygon points="%.0f,%.0f %.0f,%.0f %.0f,%.0f %.0f,%.0f"/>`,
					x+10, y, x+nodeW, y, x+nodeW-10, y+nodeH, x, y+nodeH)
			case "call":
				fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%d" height="%d" rx="3"/><path d="M%.0f,%.0f V%.0f M%.0f,%.0f V%.0f" fill="none"/>`,
					x, y, nodeW, nodeH, x+8, y, y+nodeH, x+nodeW-8, y, y+nodeH)
			default:
				fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%d" height="%d" rx="4"/>`, x, y, nodeW, nodeH)
			}
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle" dominant-baseline="central">%s</text></g>`+"\n",
				q.x, q.y, html.EscapeString(cut(n.label)))
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// layers orders a cluster's nodes in rows: a breadth-first walk from its
// first node (the start) along the edges inside the cluster; nodes the walk
// does not reach go in rows of their own at the end.
func (p *Picture) layers(c *cluster) [][]string {
	in := map[string]bool{}
	for _, n := range c.nodes {
		in[n.id] = true
	}
	next := map[string][]string{}
	for _, e := range p.edges {
		if in[e.from] && in[e.to] {
			next[e.from] = append(next[e.from], e.to)
		}
	}
	depth := map[string]int{}
	var rows [][]string
	if len(c.nodes) == 0 {
		return nil
	}
	queue := []string{c.nodes[0].id}
	depth[queue[0]] = 0
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		d := depth[id]
		for len(rows) <= d {
			rows = append(rows, nil)
		}
		rows[d] = append(rows[d], id)
		for _, to := range next[id] {
			if _, seen := depth[to]; !seen {
				depth[to] = d + 1
				queue = append(queue, to)
			}
		}
	}
	// The end goes last, below everything.
	end := c.nodes[len(c.nodes)-1].id
	for _, n := range c.nodes {
		if _, seen := depth[n.id]; !seen && n.id != end {
			rows = append(rows, []string{n.id})
		}
	}
	if d, seen := depth[end]; seen {
		row := rows[d]
		for i, id := range row {
			if id == end {
				rows[d] = append(row[:i:i], row[i+1:]...)
				break
			}
		}
	}
	out := rows[:0]
	for _, r := range rows {
		if len(r) > 0 {
			out = append(out, r)
		}
	}
	return append(out, []string{end})
}

func cut(s string) string {
	r := []rune(s)
	if len(r) <= labelRunes {
		return s
	}
	return string(r[:labelRunes-1]) + "…"
}
