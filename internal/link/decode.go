package link

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// CheckJSON is the strict reading of a request body that encoding/json
// alone is not: the body must be UTF-8 (RFC 8259 §8.1) with no lone
// surrogate escapes, and no object may name a key twice (RFC 8259 §4 leaves
// duplicates to the reader; the last one would silently win). Errors wrap
// ErrMalformed.
func CheckJSON(body []byte) error {
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: the body is not valid UTF-8", ErrMalformed)
	}
	if err := checkEscapes(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := checkValue(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON value", ErrMalformed)
	}
	return nil
}

// maxDepth bounds nesting: a link request is four levels deep, insurance
// documents a few more.
const maxDepth = 64

// checkValue reads one value from dec, refusing duplicate keys and nesting
// deeper than maxDepth.
func checkValue(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d levels", ErrMalformed, maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			key, _ := k.(string)
			if seen[key] {
				return fmt.Errorf("%w: duplicate key %q", ErrMalformed, key)
			}
			seen[key] = true
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// checkEscapes refuses \u escapes of lone surrogates, which encoding/json
// would turn into U+FFFD.
func checkEscapes(body []byte) error {
	bad := fmt.Errorf("%w: a string escapes a lone UTF-16 surrogate", ErrMalformed)
	inString := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c == '\\' && i+1 < len(body):
			i++
			if body[i] != 'u' {
				continue
			}
			r, ok := hex4(body, i+1)
			if !ok {
				continue // the decoder reports it
			}
			i += 4
			if !utf16.IsSurrogate(r) {
				continue
			}
			if r >= 0xDC00 { // a low surrogate first
				return bad
			}
			if i+2 >= len(body) || body[i+1] != '\\' || body[i+2] != 'u' {
				return bad
			}
			low, ok := hex4(body, i+3)
			if !ok || low < 0xDC00 || low > 0xDFFF {
				return bad
			}
			i += 6
		}
	}
	return nil
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
