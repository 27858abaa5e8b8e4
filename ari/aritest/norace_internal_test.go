//go:build !race

package aritest

const raceBuild = false
