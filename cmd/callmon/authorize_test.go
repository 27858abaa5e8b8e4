package main

import (
	"net/http"
	"slices"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"callmon/auth"
	"callmon/cmd/callmon/config"
)

// testSupervisor is the supervisor every test daemon has (withTestPrincipals);
// the tests' requests carry its token unless they say otherwise.
const testSupervisor = "test-supervisor"

var testCreds struct {
	sync.Mutex
	token, hash map[string]string
}

// testToken is the token of principal id in this test binary, made once.
// Its hash (testHash) has bcrypt's minimum cost: tests start many daemons.
func testToken(id string) string {
	testCreds.Lock()
	defer testCreds.Unlock()
	if testCreds.token == nil {
		testCreds.token, testCreds.hash = map[string]string{}, map[string]string{}
	}
	if tok, ok := testCreds.token[id]; ok {
		return tok
	}
	tok := auth.NewToken(id)
	h, err := auth.HashTokenCost(tok, bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	testCreds.token[id], testCreds.hash[id] = tok, h
	return tok
}

func testHash(id string) string {
	testToken(id)
	testCreds.Lock()
	defer testCreds.Unlock()
	return testCreds.hash[id]
}

// testConfigSupervisor is the test supervisor as a configuration file
// has it, for tests that run `callmon run`: the file needs bcrypt's
// default cost, so this hash is made once per test binary.
var testConfigSupervisor = sync.OnceValue(func() string {
	h, err := auth.HashToken(testToken(testSupervisor))
	if err != nil {
		panic(err)
	}
	return "supervisors:\n  - {id: " + testSupervisor + ", token_hash: '" + h + "'}\n"
})

// withTestPrincipals adds the test supervisor to cfg (once).
func withTestPrincipals(cfg *config.Config) *config.Config {
	if !slices.ContainsFunc(cfg.Supervisors, func(s config.Supervisor) bool { return s.ID == testSupervisor }) {
		cfg.Supervisors = append(cfg.Supervisors, config.Supervisor{ID: testSupervisor, Name: "Test", TokenHash: testHash(testSupervisor)})
	}
	return cfg
}

// authorize makes req come from principal id ("" for nobody): the one
// place the tests say how a request proves who sends it.
func authorize(req *http.Request, id string) *http.Request {
	if id != "" {
		req.Header.Set("Authorization", "Bearer "+testToken(id))
	}
	return req
}
