package billing

import (
	"bytes"
	_ "embed"
)

//go:embed testdata/standard.yaml
var standardYAML []byte

// StandardCards is the sample `standard` rate card (testdata/standard.yaml),
// which the demo applies.
func StandardCards() (Cards, error) {
	return ParseRateFile(bytes.NewReader(standardYAML), nil)
}
