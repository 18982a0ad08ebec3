package compiler

import "testing"

// TestLookalike: plain text that reads like an expression over the flow's
// scope is caught with its fix; prose, URLs, file names and names outside
// the scope are not.
func TestLookalike(t *testing.T) {
	sc := lookScope{vars: []string{"item", "index"}, steps: map[string]bool{"approval": true, "charge": true}}
	positives := []struct{ in, fix string }{
		{"steps.approval.by", "${ steps.approval.by }"},
		{"now()", "${ now() }"},
		{"uuid()", "${ uuid() }"},
		{"$input.orderId", "${ input.orderId }"},
		{"{{ input.orderId }}", "${ input.orderId }"},
		{"{{input.orderId}}", "${ input.orderId }"},
		{"Order {{ input.orderId }} shipped", "Order ${ input.orderId } shipped"},
		{"input.orderId", "${ input.orderId }"},
		{"entity.status", "${ entity.status }"},
		{"entity.count + 1", "${ entity.count + 1 }"},
		{"item.name", "${ item.name }"},
		{"$item", "${ item }"},
		{"workflow.id", "${ workflow.id }"},
		{"input?.customer?.email", "${ input?.customer?.email }"},
		{"upper(input.name)", "${ upper(input.name) }"},
		{"entity.status == 'done'", "${ entity.status == 'done' }"},
		{"steps.charge", "${ steps.charge }"},
		{"input.items[0]", "${ input.items[0] }"},
		{" input.orderId ", "${ input.orderId }"},
	}
	for _, c := range positives {
		got, ok := lookalike(c.in, sc)
		if !ok || got != c.fix {
			t.Errorf("lookalike(%q) = %q, %v; want %q", c.in, got, ok, c.fix)
		}
	}
	negatives := []string{
		"Thanks, your order is on its way.",
		"see input.orderId for details",     // a sentence mentioning a field
		"The entity. It changed.",           // prose with dots
		"https://example.com/input.orderId", // URL
		"report.pdf",                        // file name
		"input.csv",                         // file name over a scope root
		"error.log",                         // error is not in scope here
		"steps.unknown.by",                  // not a step of this graph
		"workflow.yaml",                     // not a workflow field
		"now",                               // a word
		"item",                              // a word, even in scope
		"input",                             // a word
		"entity and input",                  // names only, no read
		"len(items)",                        // items is not in scope
		"max(3)",                            // a known function over nothing in scope
		"Total(approx)",                     // not a known function
		"$5.00",                             // money
		"$HOME/bin",                         // shell variable outside the scope
		"{{ name }}",                        // an activity's own template
		"user@example.com",                  // e-mail address
		"v1.2.3",                            // a version
		"a.b.c",                             // dotted text outside the scope
		"status: done",                      // text with a colon
		"1.5",                               // a number written as text
		"line one\ninput.orderId",           // multi-line text
		"order.${ input.id }",               // already a template
	}
	for _, s := range negatives {
		if got, ok := lookalike(s, sc); ok {
			t.Errorf("lookalike(%q) = %q: want no warning", s, got)
		}
	}
}
