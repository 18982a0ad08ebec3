package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Func is an activity in its uniform shape: JSON arguments in, JSON result out.
type Func func(ctx context.Context, args json.RawMessage) (json.RawMessage, error)

// Registry maps activity names to functions. It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	funcs map[string]Func
}

// NewRegistry returns a registry holding the built-in activities (`log` and
// `http.request`), http.request under the default HTTPPolicy.
func NewRegistry() *Registry {
	r, err := NewRegistryWithHTTP(HTTPPolicy{})
	if err != nil {
		panic(err) // the zero policy is valid
	}
	return r
}

// NewRegistryWithHTTP is NewRegistry with http.request under policy p. An
// invalid allow-list entry or a negative MaxBody is an error naming it.
func NewRegistryWithHTTP(p HTTPPolicy) (*Registry, error) {
	g, err := newHTTPGuard(p)
	if err != nil {
		return nil, err
	}
	r := &Registry{funcs: map[string]Func{}}
	r.funcs["log"] = logActivity
	r.funcs["http.request"] = httpActivity(g)
	return r, nil
}

var (
	ctxType = reflect.TypeOf((*context.Context)(nil)).Elem()
	errType = reflect.TypeOf((*error)(nil)).Elem()
)

// Register adds fn under name. fn is a plain Go function of one of the shapes
//
//	func(ctx context.Context, in In) (Out, error)
//	func(ctx context.Context, in In) error
//	func(ctx context.Context) (Out, error)
//	func(ctx context.Context, args json.RawMessage) (json.RawMessage, error)
//
// where In and Out are JSON-able. A name may be registered once.
func (r *Registry) Register(name string, fn any) error { return r.put(name, fn, false) }

func checkName(name string) error {
	if name == "" {
		return errors.New("register activity: empty name")
	}
	for _, c := range name {
		if !(c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return fmt.Errorf("register activity %q: name may hold only letters, digits, '.', '_' and '-'", name)
		}
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return fmt.Errorf("register activity %q: name may not start or end with '.'", name)
	}
	return nil
}

// adapt turns a plain Go function into a Func using reflection once, at
// registration.
func adapt(name string, fn any) (Func, error) {
	if f, ok := fn.(Func); ok {
		return f, nil
	}
	if f, ok := fn.(func(context.Context, json.RawMessage) (json.RawMessage, error)); ok {
		return f, nil
	}
	v := reflect.ValueOf(fn)
	t := v.Type()
	bad := func(why string) error {
		return fmt.Errorf("register activity %q: %s is not an activity function (%s); want func(context.Context[, In]) ([Out, ]error)", name, t, why)
	}
	if fn == nil || t.Kind() != reflect.Func {
		return nil, fmt.Errorf("register activity %q: %T is not a function", name, fn)
	}
	if t.IsVariadic() || t.NumIn() < 1 || t.NumIn() > 2 || t.In(0) != ctxType {
		return nil, bad("the first parameter must be context.Context, followed by at most one input")
	}
	if t.NumOut() < 1 || t.NumOut() > 2 || t.Out(t.NumOut()-1) != errType {
		return nil, bad("the last result must be error, preceded by at most one output")
	}
	hasIn, hasOut := t.NumIn() == 2, t.NumOut() == 2
	return func(ctx context.Context, args json.RawMessage) (json.RawMessage, error) {
		in := []reflect.Value{reflect.ValueOf(ctx)}
		if hasIn {
			p := reflect.New(t.In(1))
			if len(args) > 0 && string(args) != "null" {
				if err := json.Unmarshal(args, p.Interface()); err != nil {
					return nil, NonRetryable(&Error{Type: "InvalidArguments",
						Message: fmt.Sprintf("activity %q: decode arguments into %s: %v", name, t.In(1), err)})
				}
			}
			in = append(in, p.Elem())
		}
		out := v.Call(in)
		if e := out[len(out)-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
		if !hasOut {
			return json.RawMessage("null"), nil
		}
		b, err := json.Marshal(out[0].Interface())
		if err != nil {
			return nil, NonRetryable(fmt.Errorf("activity %q: encode result: %w", name, err))
		}
		return b, nil
	}, nil
}

// Replace registers fn under name in place of what is registered there,
// built-in activities included: tests put doubles in place of real
// activities this way (package flowtest).
func (r *Registry) Replace(name string, fn any) error { return r.put(name, fn, true) }

// put registers fn under name; only with replace may the name be taken.
func (r *Registry) put(name string, fn any, replace bool) error {
	if err := checkName(name); err != nil {
		return err
	}
	f, err := adapt(name, fn)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.funcs[name]; ok && !replace {
		return fmt.Errorf("register activity %q: already registered", name)
	}
	r.funcs[name] = f
	return nil
}

// Lookup returns the function registered under name.
func (r *Registry) Lookup(name string) (Func, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.funcs[name]
	return f, ok
}

// Has reports whether name is registered (the compiler's ActivitySet).
func (r *Registry) Has(name string) bool {
	_, ok := r.Lookup(name)
	return ok
}

// Names lists the registered names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.funcs))
	for n := range r.funcs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
