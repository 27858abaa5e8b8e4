// Command gen writes the generated dashboard to dashboards/callmon.json.
// Run it through `go generate ./grafana` (which runs it in grafana/).
package main

import (
	"fmt"
	"os"

	"callmon/grafana"
)

func main() {
	b, err := grafana.Dashboard()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := "dashboards/callmon.json"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
