//go:build race

package main

// raceBuild: the tests run with the race detector, so the processes they start do too.
const raceBuild = true
