//go:build !race

package ari_test

// raceDetector: the race detector is on; it changes what memory a caller
// costs, not how many goroutines.
const raceDetector = false
