//go:build race

package aritest

// raceBuild: the race detector's instrumentation allocates too; allocation guards skip.
const raceBuild = true
