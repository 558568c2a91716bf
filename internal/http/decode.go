package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

// maxBody is the largest request body accepted.
const maxBody = 64 << 10

// decode reads a JSON object into a T strictly: JSON content type, at most
// maxBody bytes, keys exactly as declared (no unknown, duplicate or
// case-variant keys), nothing after the object. Errors are ours to show.
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	if !isJSON(r.Header.Get("Content-Type")) {
		return v, errUnsupportedMedia
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return v, errTooLarge
		}
		return v, badRequest("could not read request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return v, badRequest("request body is empty")
	}
	if err := checkKeys(body, fieldsOf(reflect.TypeFor[T]())); err != nil {
		return v, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return v, badRequest(fmt.Sprintf("%s must be a %s", typeErr.Field, jsonKind(typeErr.Type)))
		}
		return v, badRequest("request body is not valid JSON")
	}
	return v, nil
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "number"
	}
	return "value of another type"
}

// checkKeys walks body as JSON: it must be one object whose keys are all in
// allowed, each at most once, followed by nothing but white space.
func checkKeys(body []byte, allowed map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return badRequest("request body is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return badRequest("request body must be a JSON object")
	}
	seen := make(map[string]bool, len(allowed))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badRequest("request body is not valid JSON")
		}
		key, _ := tok.(string)
		switch {
		case !allowed[key]:
			return badRequest(fmt.Sprintf("unknown field %q", truncate(key, 40)))
		case seen[key]:
			return badRequest(fmt.Sprintf("duplicate field %q", key))
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return badRequest("request body is not valid JSON")
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return badRequest("request body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("request body has data after the JSON object")
	}
	return nil
}

// fieldsOf returns the JSON names of a struct type's fields.
func fieldsOf(t reflect.Type) map[string]bool {
	m := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		if name != "-" {
			m[name] = true
		}
	}
	return m
}
