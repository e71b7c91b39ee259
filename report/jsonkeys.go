package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// checkDuplicateKeys returns an error naming the first key that appears
// twice in one object of the JSON document data (with fold, in any case:
// encoding/json matches struct fields that way). encoding/json keeps the
// last of two equal keys without a word, so the first one's value would be
// lost. Syntax errors are left to the decoder that reads data.
func checkDuplicateKeys(data []byte, fold bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := walkKeys(dec, "", fold)
	if _, ok := err.(duplicateKey); ok {
		return err
	}
	return nil
}

type duplicateKey struct{ key, where string }

func (d duplicateKey) Error() string {
	if d.where == "" {
		return fmt.Sprintf("key %q appears twice (the first value would be ignored)", d.key)
	}
	return fmt.Sprintf("key %q appears twice in %s (the first value would be ignored)", d.key, d.where)
}

// walkKeys reads one JSON value from dec; path says where it is
// ("deviations[0]").
func walkKeys(dec *json.Decoder, path string, fold bool) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			norm := key
			if fold {
				norm = strings.ToLower(key)
			}
			if seen[norm] {
				return duplicateKey{key, path}
			}
			seen[norm] = true
			if err := walkKeys(dec, strings.TrimPrefix(path+"."+key, "."), fold); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := walkKeys(dec, fmt.Sprintf("%s[%d]", path, i), fold); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, err = dec.Token() // the closing delimiter
	return err
}
