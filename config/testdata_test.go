package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenConfigs loads every testdata/config/*.yaml: each must fail, and
// its error must contain every line of the sibling .want file.
func TestBrokenConfigs(t *testing.T) {
	setenv(t)
	files, err := filepath.Glob("../testdata/config/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".want")
			if err != nil {
				t.Fatalf("every broken config needs a .want file: %v", err)
			}
			c, err := Load(f)
			if err == nil {
				t.Fatalf("loaded without error: %+v", c)
			}
			es := AsErrors(err)
			if len(es) == 0 {
				t.Fatalf("error %T is not config.Errors: %v", err, err)
			}
			for _, e := range es {
				if e.File != f {
					t.Errorf("error names file %q, want %q", e.File, f)
				}
			}
			got := err.Error()
			for _, line := range strings.Split(string(want), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.Contains(got, line) {
					t.Errorf("error does not contain\n\t%s\ngot:\n%s", line, got)
				}
			}
			if strings.Contains(got, "hunter2") {
				t.Errorf("the error repeats a literal secret:\n%s", got)
			}
		})
	}
}
