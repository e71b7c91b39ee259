package process

import (
	"fmt"
	"os"
	"path/filepath"
)

// Executable returns the absolute path of the adapter executable at path, or
// why it cannot be run (missing, not a regular file, no execute bit).
func Executable(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("not an executable file (%v; chmod +x it)", st.Mode())
	}
	return abs, nil
}
