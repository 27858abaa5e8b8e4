package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// profileEnv names a file for a CPU profile of the whole process (any command), for the
// process-separated load benchmark; unset, nothing is profiled.
const profileEnv = "CALLMON_CPUPROFILE"

// profiled runs main's body, with a CPU profile written to $CALLMON_CPUPROFILE if it is set.
func profiled(body func() int) int {
	path := os.Getenv(profileEnv)
	if path == "" {
		return body()
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "callmon: %s: %v\n", profileEnv, err)
		return 1
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "callmon: %s: %v\n", profileEnv, err)
		return 1
	}
	defer pprof.StopCPUProfile()
	return body()
}
