package aritest_test

import (
	"fmt"
	"testing"

	"callmon/ari/aritest"
)

// BenchmarkAnsweredQueueCall is one queue call through the fake as callmon makes it: caller in,
// answer, holding bridge, agent originated and answering at once, mixing bridge, both hang up.
// It bounds what the fake adds to callmon's own benchmarks.
func BenchmarkAnsweredQueueCall(b *testing.B) {
	s, err := aritest.New(aritest.Options{User: testUser, Password: testPass, Clock: aritest.NewManualClock(epoch)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.AddEndpoint("Local/agent@agents", "online", aritest.Behaviour{})
	if _, err := dialEvents(b, s, "app=callmon"); err != nil {
		b.Fatal(err)
	}
	call := func(method, path, body string) {
		var data []byte
		if body != "" {
			data = []byte(body)
		}
		if status, resp := restCall(b, s, method, path, data); status >= 300 {
			b.Fatalf("%s %s: %d %s", method, path, status, resp)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c, err := s.Call(queueCall)
		if err != nil {
			b.Fatal(err)
		}
		id, hold, mix, agent := c.ID(), fmt.Sprint("h", i), fmt.Sprint("m", i), fmt.Sprint("a", i)
		call("POST", "/channels/"+id+"/answer", "")
		call("POST", "/bridges/"+hold, `{"bridgeId":"`+hold+`","type":"holding"}`)
		call("POST", "/bridges/"+hold+"/addChannel", `{"channel":"`+id+`"}`)
		call("POST", "/channels", `{"endpoint":"Local/agent@agents","timeout":15,"app":"callmon","appArgs":"agent","channelId":"`+agent+`"}`)
		call("POST", "/bridges/"+mix, `{"bridgeId":"`+mix+`","type":"mixing"}`)
		call("POST", "/bridges/"+hold+"/removeChannel", `{"channel":"`+id+`"}`)
		call("DELETE", "/bridges/"+hold, "")
		call("POST", "/bridges/"+mix+"/addChannel", `{"channel":"`+id+`"}`)
		call("POST", "/bridges/"+mix+"/addChannel", `{"channel":"`+agent+`"}`)
		call("DELETE", "/channels/"+agent+"?reason=normal", "")
		call("DELETE", "/channels/"+id+"?reason=normal", "")
		call("DELETE", "/bridges/"+mix, "")
	}
}
