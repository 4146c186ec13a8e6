package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// checkJSONNames refuses, in a JSON body meant for v, what encoding/json
// lets through: an object's key given twice ({"grid":15,"grid":30}: the
// last wins, silently), and a key that names one of v's fields in other
// letters ({"GRID":15} sets Grid: encoding/json matches names without
// regard to case). Either would let two programs read the same body
// differently. Keys unknown in every spelling are left to the decoder's
// DisallowUnknownFields, and syntax errors to the decoder.
func checkJSONNames(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return walkJSON(dec, reflect.TypeOf(v), "")
}

// walkJSON reads one JSON value from dec, checking each object's keys
// against t (nil: any type, whose objects are only checked for
// duplicates). at is where the value is, for the message.
func walkJSON(dec *json.Decoder, t reflect.Type, at string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(unmarshaler) || t.Kind() == reflect.Interface) {
		t = nil // it reads its own JSON
	}
	tok, err := dec.Token()
	if err != nil {
		return nil // the decoder says what is wrong with the syntax
	}
	switch tok {
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := walkJSON(dec, elem, at+"[]"); err != nil {
				return err
			}
		}
		dec.Token()
	case json.Delim('{'):
		fields := map[string]reflect.Type{} // exact name → type
		folded := map[string]string{}       // lower case → exact name
		isStruct := t != nil && t.Kind() == reflect.Struct
		if isStruct {
			for _, f := range reflect.VisibleFields(t) {
				name, ok := jsonName(f)
				if !ok {
					continue
				}
				fields[name] = f.Type
				folded[strings.ToLower(name)] = name
			}
		}
		var elem reflect.Type
		if t != nil && t.Kind() == reflect.Map {
			elem = t.Elem()
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil
			}
			key, _ := kt.(string)
			if seen[key] {
				return fmt.Errorf("the field %q is given twice%s", key, where(at))
			}
			seen[key] = true
			ft := elem
			if isStruct {
				if exact, ok := folded[strings.ToLower(key)]; ok && exact != key {
					return fmt.Errorf("there is no field %q%s: the field is %q, in those letters", key, where(at), exact)
				}
				ft = fields[key]
			}
			if err := walkJSON(dec, ft, at+"."+key); err != nil {
				return err
			}
		}
		dec.Token()
	}
	return nil
}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

func where(at string) string {
	if at == "" {
		return ""
	}
	return " in " + strings.TrimPrefix(at, ".")
}

// jsonName is the name encoding/json gives a struct field, and whether
// it is encoded at all.
func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() || f.Anonymous {
		return "", false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, true
}
