import SwiftRPC
import Testing

@Suite struct JSONTests {
    @Test func integersAndDoublesStayApart() throws {
        #expect(try JSONParser.parse("1") == .int(1))
        #expect(try JSONParser.parse("1.0") == .double(1.0))
        #expect(try JSONParser.parse("-0") == .int(0))
        #expect(try JSONParser.parse("1e2") == .double(100))
        #expect(try JSONParser.parse("9223372036854775807") == .int(Int.max))
        #expect(try JSONParser.parse("-9223372036854775808") == .int(Int.min))
        #expect(try JSONParser.parse("9223372036854775808") == .double(9223372036854775808.0))
    }

    @Test func aWideObjectKeepsEveryKeyInOrderAndTheLastDuplicateWins() throws {
        let keys = 80_000
        let text = "{" + (0..<keys).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + ",\"k7\":\"again\"}"
        guard case .object(let object) = try JSONParser.parse(text) else { Issue.record("not an object"); return }
        #expect(object.count == keys)
        #expect(object.keys.first == "k0" && object.keys.last == "k\(keys - 1)")
        #expect(object["k79999"] == 79_999)
        #expect(object["k7"] == "again")
        var edited = object
        edited["k3"] = nil
        #expect(edited.count == keys - 1 && edited["k3"] == nil && edited["k4"] == 4 && edited["k79999"] == 79_999)
        #expect(edited != object)
        edited["k3"] = 3
        #expect(edited == object)  // "k3" is now last: equality ignores order
    }

    @Test func roundTripKeepsEveryKindAndUnicode() throws {
        let text = #"{"a":[1,-2.5,true,false,null,"ü€😀 \"q\" \\ \n\t\u0001"],"b":{},"c":[],"ключ":"значение"}"#
        let value = try JSONParser.parse(text)
        #expect(try JSONParser.parse(value.jsonText) == value)
        #expect(value.jsonText == text)
    }

    @Test func escapesDecode() throws {
        #expect(try JSONParser.parse(#""\u00e9\ud83d\ude00\/""#) == .string("é😀/"))
    }

    @Test(arguments: [
        "", " ", "{", "[1,", "[1 2]", "{\"a\" 1}", "{'a': 1}", "01", "1.", ".5", "-", "+1", "1e", "tru", "nul",
        "\"\u{01}\"", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "[1]]", "{\"a\":1}}", "NaN", "Infinity", "1e999",
    ])
    func malformedInputIsRefused(_ text: String) {
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(text) }
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
        // After an ASCII start, and in a string with an escape (the parser's two paths).
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse([0x22, 0x61, 0x62, 0xC3, 0x22]) }
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse([0x22, 0x5C, 0x6E, 0xC3, 0x28, 0x22]) }
    }

    @Test func textIsDecodedWhetherASCIIOrNot() throws {
        #expect(try JSONParser.parse(#"["plain", "caf\u00e9", "café", "😀", "a\"b"]"#) == ["plain", "café", "café", "😀", "a\"b"])
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: Never.self) { try JSONParser.parse(fine) }
    }

    @Test func nonFiniteDoublesAreWrittenAsNull() {
        #expect(JSONValue.array([.double(.infinity), .double(.nan)]).jsonText == "[null,null]")
    }
}
