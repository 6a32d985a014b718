package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxJSONDepth bounds the nesting of a JSON document; configurations need 4.
const maxJSONDepth = 64

// parseJSONTree parses a JSON object into a generic tree (see decoder), with
// numbers kept as json.Number. Unlike encoding/json it rejects duplicate
// keys (which would silently override) and trailing data. Errors name source
// and line, and the key path for duplicates.
func parseJSONTree(data []byte, source string) (map[string]any, error) {
	p := &jsonParser{data: data, source: source, dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.syntaxErr(err)
	}
	if tok != json.Delim('{') {
		return nil, &fieldError{source: source, msg: "invalid JSON: the document must be an object"}
	}
	root, err := p.object("", 1)
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, &fieldError{source: source, path: p.line(p.dec.InputOffset()), msg: "invalid JSON: unexpected data after the top-level object"}
	}
	return root, nil
}

type jsonParser struct {
	data   []byte
	source string
	dec    *json.Decoder
}

// object parses the members of an object whose '{' was read.
func (p *jsonParser) object(path string, depth int) (map[string]any, error) {
	m := make(map[string]any)
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, p.syntaxErr(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, p.syntaxErr(fmt.Errorf("object key expected"))
		}
		if _, dup := m[key]; dup {
			return nil, &fieldError{source: p.source, path: path, msg: "duplicate key " + quoteString(key)}
		}
		v, err := p.value(joinPath(path, pathKey(key)), depth)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	if _, err := p.dec.Token(); err != nil { // '}'
		return nil, p.syntaxErr(err)
	}
	return m, nil
}

// value parses one value.
func (p *jsonParser) value(path string, depth int) (any, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.syntaxErr(err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	if depth >= maxJSONDepth {
		return nil, &fieldError{source: p.source, path: path, msg: "invalid JSON: nested too deeply"}
	}
	switch d {
	case '{':
		return p.object(path, depth+1)
	case '[':
		arr := []any{}
		for i := 0; p.dec.More(); i++ {
			v, err := p.value(fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := p.dec.Token(); err != nil { // ']'
			return nil, p.syntaxErr(err)
		}
		return arr, nil
	}
	return nil, p.syntaxErr(fmt.Errorf("unexpected %s", d))
}

// syntaxErr turns a decoder error into a message with the line number.
func (p *jsonParser) syntaxErr(err error) error {
	off := p.dec.InputOffset()
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &fieldError{source: p.source, msg: "invalid JSON: unexpected end of input"}
	}
	return &fieldError{source: p.source, path: p.line(off), msg: "invalid JSON: " + err.Error()}
}

// line renders "line N" for a byte offset.
func (p *jsonParser) line(off int64) string {
	if off > int64(len(p.data)) {
		off = int64(len(p.data))
	}
	if off < 0 {
		off = 0
	}
	return fmt.Sprintf("line %d", bytes.Count(p.data[:off], []byte("\n"))+1)
}
