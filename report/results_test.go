package report_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

func TestWriteReadRoundTrip(t *testing.T) {
	in := shard("debian-6.1")
	in.Runs[0].Error = "guest did not report within 120s"
	in.Runs[0].ConsoleTail = []string{"[    1.0] Kernel panic", "end trace"}
	in.Results[0], in.Results[5] = in.Results[5], in.Results[0] // not in canonical order
	before := *in
	before.Results = append([]result.Result(nil), in.Results...)
	var buf bytes.Buffer
	if err := report.Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*in, before) {
		t.Fatal("Write modified its input")
	}
	out, err := report.Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("Read what Write wrote: %v\n%s", err, buf.Bytes())
	}
	var again bytes.Buffer
	if err := report.Write(&again, out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatalf("Write(Read(Write(x))) differs from Write(x):\n%s\n---\n%s", buf.Bytes(), again.Bytes())
	}
	if out.Schema != report.SchemaVersion || !out.Generated.Equal(testTime) || len(out.Results) != len(in.Results) || len(out.Runs) != 2 {
		t.Fatalf("round trip lost data: schema %d generated %v results %d runs %d", out.Schema, out.Generated, len(out.Results), len(out.Runs))
	}
	if !strings.Contains(buf.String(), `"schema": 1`) || !strings.Contains(buf.String(), `"console_tail"`) {
		t.Fatalf("results.json lacks schema or console_tail:\n%s", buf.String())
	}
}

func TestReadRejects(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      error
		mention   string
	}{
		{"not json", `{"schema": 1,`, report.ErrInvalid, "unexpected EOF"},
		{"no schema", `{"results": []}`, report.ErrSchema, "schema 0"},
		{"future schema", `{"schema": 2, "results": []}`, report.ErrSchema, "schema 2"},
		{"no requirement", `{"schema": 1, "results": [{"loader": "x", "level": "MUST", "status": "PASS"}]}`, report.ErrInvalid, "results[0]: requirement is empty"},
		{"no loader", `{"schema": 1, "results": [{"requirement": "R", "level": "MUST", "status": "PASS"}]}`, report.ErrInvalid, "loader is empty"},
		{"bad status", `{"schema": 1, "results": [{"requirement": "R", "loader": "x", "level": "MUST", "status": "OK"}]}`, report.ErrInvalid, `unknown status "OK"`},
		{"bad level", `{"schema": 1, "results": [{"requirement": "R", "loader": "x", "level": "must", "status": "PASS"}]}`, report.ErrInvalid, `unknown level "must"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := report.Read(strings.NewReader(tc.doc))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("Read: got %v, want %v mentioning %q", err, tc.want, tc.mention)
			}
		})
	}
}

func TestReadDirNamesWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := report.ReadDir(dir)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "no results.json") {
		t.Fatalf("ReadDir of an empty dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), []byte(`{"schema": 9}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = report.ReadDir(dir)
	if !errors.Is(err, report.ErrSchema) || !strings.Contains(err.Error(), filepath.Join(dir, "results.json")) {
		t.Fatalf("ReadDir of a schema 9 file: %v", err)
	}
}
