package ui

// errorsNL are the Dutch of the error messages callmon's JSON API gives and its pages show,
// keyed by the English format. Programs get the English; a page asks for its own language
// (Accept-Language) and gets this.
var errorsNL = map[string]string{
	// The kinds of the task store's errors.
	"invalid task input":      "ongeldige invoer",
	"task conflict":           "de taak is intussen gewijzigd",
	"task not found":          "taak niet gevonden",
	"task change not allowed": "deze wijziging mag niet",
	// The task store's texts.
	"%s has %d characters, at most %d are allowed": "%s heeft %d tekens, er mogen er hoogstens %d",
	"%s is not valid text":                         "%s is geen geldige tekst",
	"%s is required":                               "%s is verplicht",
	"kind %q is not one of queue_callback, voicemail, agreed_by_agent":           "soort %q bestaat niet",
	"max attempts %d is not between 1 and %d":                                    "maximaal aantal pogingen %d ligt niet tussen 1 en %d",
	"number %q is not an international (E.164) number like +31612345678":         "nummer %q is geen internationaal nummer zoals +31612345678",
	"result %q is not one of reached, no_answer, wrong_number":                   "resultaat %q is geen gebeld, geen gehoor of verkeerd nummer",
	"status %q is not one of pending, claimed, dialing, done, failed, cancelled": "status %q bestaat niet",
	"the window needs a start and an end":                                        "het tijdvak heeft een begin en een einde nodig",
	"the window starts at %s, not before its end %s":                             "het tijdvak begint om %s, niet vóór het einde %s",
	"task %d":               "taak %d",
	"task %d is %s already": "taak %d is al %s",
	"task %d was changed meanwhile: it is at version %d (%s), not %d": "taak %d is intussen gewijzigd: versie %d (%s), niet %d; de lijst is bijgewerkt",
	"task %d was changed meanwhile":                                   "taak %d is intussen gewijzigd; de lijst is bijgewerkt",
	"task %d is %s by %s until %s":                                    "taak %d is %s door %s tot %s",
	"task %d is %s, not claimed":                                      "taak %d is %s, niet opgepakt",
	"task %d is not dialling under %s":                                "taak %d wordt niet gebeld door %s",
	"task %d is held by %s, not by %s":                                "taak %d is van %s, niet van %s",
	"task %d is claimed by %s, not by %s":                             "taak %d is opgepakt door %s, niet door %s",
	// The task API's texts.
	"%v, not %q": "%v, niet %q",
	"Idempotency-Key is longer than %d bytes":               "Idempotency-Key is langer dan %d bytes",
	"action %q: want login, logout, pause or unpause":       "actie %q: kies aanmelden, afmelden, pauzeren of hervatten",
	"employee %q is not an employee id":                     "%q is geen medewerker",
	"field %q must be a JSON %s, not %s":                    "veld %q moet een JSON-%s zijn, geen %s",
	"internal error: presence was not changed; try again":   "interne fout: de aanwezigheid is niet gewijzigd; probeer het opnieuw",
	"internal error: the task store failed; try again":      "interne fout: de takenopslag faalde; probeer het opnieuw",
	"limit %q is not a number from 1 to %d":                 "limiet %q is geen getal van 1 tot %d",
	"listing voicemails failed; see callmon's log":          "de voicemails konden niet worden opgehaald; zie het logboek van callmon",
	"malformed JSON at byte %d: %v":                         "ongeldige JSON bij byte %d: %v",
	"malformed request body: %s":                            "ongeldig verzoek: %s",
	"marking the voicemail heard failed; see callmon's log": "de voicemail kon niet als beluisterd worden gemarkeerd; zie het logboek van callmon",
	"no action %q: claim, complete, reschedule or cancel":   "geen actie %q: oppakken, afronden, verzetten of annuleren",
	"no agent %q":                                          "geen medewerker %q",
	"no queue %q":                                          "geen wachtrij %q",
	"no voicemail %d":                                      "geen voicemail %d",
	"presence is not served here":                          "aanwezigheid wordt hier niet bijgehouden",
	"queue %q is not one of yours":                         "wachtrij %q is niet een van de uwe",
	"queue is required":                                    "de wachtrij is verplicht",
	"reading voicemail failed; see callmon's log":          "de voicemail kon niet worden gelezen; zie het logboek van callmon",
	"request body is empty: send a JSON object":            "het verzoek is leeg: stuur een JSON-object",
	"request body is larger than %d bytes":                 "het verzoek is groter dan %d bytes",
	"task %d belongs to another agent":                     "taak %d is van een andere medewerker",
	"task %d is in queue %q, which is not one of yours":    "taak %d staat in wachtrij %q, die niet een van de uwe is",
	"task id %q is not a positive integer":                 "taaknummer %q is geen positief geheel getal",
	"the recording could not be fetched from Asterisk":     "de opname kon niet bij Asterisk worden opgehaald",
	"the window %s has already ended":                      "het tijdvak %s is al voorbij",
	"the window %s is outside opening hours":               "het tijdvak %s valt buiten de openingstijden",
	"version is required: the version of the task you saw": "de versie is verplicht: de versie van de taak die u zag",
	"view %q is not one of mine, pool, overdue":            "weergave %q bestaat niet",
	"view=mine needs agent=<id> for a supervisor":          "view=mine heeft agent=<id> nodig voor een supervisor",
	"voicemail %d is not yours":                            "voicemail %d is niet van u",
	"voicemail %d: the recording and the caller's number were deleted on %s after the retention period": "voicemail %d: de opname en het nummer van de beller zijn op %s verwijderd na de bewaartermijn",
	"voicemail id %q is not a number":                                                                     "voicemailnummer %q is geen getal",
	"window_start %s is not before window_end %s":                                                         "het begin %s ligt niet vóór het einde %s",
	"you may change only your own presence (/agent/%s)":                                                   "u mag alleen uw eigen aanwezigheid wijzigen (/agent/%s)",
	"you may list only your own tasks, not those of %q":                                                   "u mag alleen uw eigen taken zien, niet die van %q",
	"bad presence change: the pause reason is not valid UTF-8":                                            "aanwezigheid niet gewijzigd: de reden van de pauze is geen geldige tekst",
	"bad presence change: the pause reason must be one line of text without control characters":           "aanwezigheid niet gewijzigd: de reden van de pauze moet één regel gewone tekst zijn",
	"number must be a Dutch phone number: 10 digits starting with 0 (06 12345678, 050-316 49 11) or +31…": "het nummer moet een Nederlands telefoonnummer zijn: 10 cijfers met een 0 ervoor (06 12345678, 050-316 49 11) of +31…",
}

// Error is an error message's format in l: the Dutch where there is one, else as given.
func (l Lang) Error(format string) string {
	if l == NL {
		if d, ok := errorsNL[format]; ok {
			return d
		}
	}
	return format
}
