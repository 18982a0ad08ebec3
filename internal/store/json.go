package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// MaxDocumentBytes bounds an entity document (and any JSON the store decodes
// for commands): 16 MiB.
const MaxDocumentBytes = 16 << 20

// ErrTooLarge marks a document over MaxDocumentBytes.
var ErrTooLarge = errors.New("document too large")

// DecodeJSON decodes one JSON value. Whole numbers become int (so expressions
// can use integer arithmetic such as `n % 2`), other numbers float64. Empty
// input decodes to nil.
func DecodeJSON(data []byte) (any, error) {
	if len(data) > MaxDocumentBytes {
		return nil, fmt.Errorf("decode json: %d bytes: %w (limit %d bytes)", len(data), ErrTooLarge, MaxDocumentBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("decode json: unexpected data after the value at offset %d", dec.InputOffset())
	}
	v, err := normalize(v)
	if err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	return v, nil
}

// EncodeJSON encodes a document and enforces MaxDocumentBytes.
func EncodeJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	if len(b) > MaxDocumentBytes {
		return nil, fmt.Errorf("encode json: %d bytes: %w (limit %d bytes)", len(b), ErrTooLarge, MaxDocumentBytes)
	}
	return b, nil
}

// normalize replaces json.Number values (in place) with int or float64.
func normalize(v any) (any, error) {
	var err error
	switch x := v.(type) {
	case json.Number:
		n := numberValue(x)
		if f, ok := n.(float64); ok && math.IsInf(f, 0) {
			return nil, fmt.Errorf("number %s is out of range", x)
		}
		return n, nil
	case map[string]any:
		for k, e := range x {
			if x[k], err = normalize(e); err != nil {
				return nil, err
			}
		}
	case []any:
		for i, e := range x {
			if x[i], err = normalize(e); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// maxSafeInt is the largest integer a float64 holds exactly.
const maxSafeInt = 1 << 53

func numberValue(n json.Number) any {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil && int64(int(i)) == i {
			return int(i)
		}
	}
	f, _ := strconv.ParseFloat(s, 64) // out of range: ±Inf, rejected by normalize
	if f == math.Trunc(f) && math.Abs(f) <= maxSafeInt {
		return int(f)
	}
	return f
}

// asNumber reads any Go number a decoded document or a caller may hold.
func asNumber(v any) (i int64, f float64, isInt, ok bool) {
	switch x := v.(type) {
	case int:
		return int64(x), float64(x), true, true
	case int64:
		return x, float64(x), true, true
	case int32:
		return int64(x), float64(x), true, true
	case float64:
		return 0, x, false, true
	case float32:
		return 0, float64(x), false, true
	case json.Number:
		switch y := numberValue(x).(type) {
		case int:
			return int64(y), float64(y), true, true
		case float64:
			return 0, y, false, true
		}
	}
	return 0, 0, false, false
}

// clone deep-copies a decoded JSON value (maps and slices; scalars are
// immutable) and normalises json.Number.
func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = clone(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = clone(e)
		}
		return s
	case json.Number:
		return numberValue(x)
	}
	return v
}

// describe names a value for error messages: `string "abc"`, `number 5`,
// `an object`, `nothing`.
func describe(v any, present bool) string {
	if !present {
		return "nothing"
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return "string " + strconv.Quote(x)
	case map[string]any:
		return "an object"
	case []any:
		return fmt.Sprintf("an array of %d elements", len(x))
	}
	if _, f, isInt, ok := asNumber(v); ok {
		if isInt {
			return fmt.Sprintf("number %v", v)
		}
		return "number " + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return fmt.Sprintf("%T", v)
}
