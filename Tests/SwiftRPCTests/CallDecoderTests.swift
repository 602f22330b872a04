import SwiftRPC
import Testing

@Suite struct CallDecoderTests {
    func decode(_ body: String, type: String? = "application/json", query: String? = nil) throws(RPCError) -> DecodedCall {
        try CallDecoder.decode(contentType: type, body: Array(body.utf8), query: query)
    }

    @Test func jsonArgsAndKwargs() throws {
        let call = try decode(#"{"args": [1, "x"], "kwargs": {"name": null}}"#)
        #expect(call.positional == [.json(1), .json("x")])
        #expect(call.keywords.map(\.0) == ["name"])
        #expect(call.keywords.map(\.1) == [.json(nil)])
    }

    @Test func swiftRPCStringArgs() throws {
        #expect(try decode(#"{"args": "[123,456]"}"#).positional == [.json(123), .json(456)])
        #expect(try decode(#"{"args": "123"}"#).positional == [.json("123")])
        #expect(try decode(#"{"args": "hello"}"#).positional == [.json("hello")])
    }

    @Test func charsetSuffixAndMissingType() throws {
        #expect(try decode(#"{"args": [1]}"#, type: "application/json; charset=UTF-8").positional == [.json(1)])
        #expect(try decode(#"{"args": [1]}"#, type: nil).positional == [.json(1)])
        #expect(try decode(#"{"args": [1]}"#, type: "application/x-www-form-urlencoded").positional == [.json(1)])
    }

    @Test func formAndQueryFields() throws {
        let form = try decode("args=1&args=two+words&name=%C3%BC", type: "application/x-www-form-urlencoded")
        #expect(form.positional == [.text("1"), .text("two words")])
        #expect(form.keywords.map(\.0) == ["name"])
        #expect(form.keywords.map(\.1) == [.text("ü")])
        let query = try decode("", type: nil, query: "a=1&b=2&wait=3")
        #expect(query.keywords.map(\.0) == ["a", "b"])
        #expect(query.wait == 3)
    }

    @Test func jsonBodyTakesOnlyWaitFromTheQuery() throws {
        let call = try decode(#"{"args": [1]}"#, query: "args=9&wait=45")
        #expect(call.positional == [.json(1)])
        #expect(call.wait == 30)
    }

    @Test func options() throws {
        let call = try decode(#"{"options": {"queue": "q.1", "delay": 2.5, "job_id": "abc-1"}}"#)
        #expect(call.options == CallOptions(queue: "q.1", delay: 2.5, jobID: "abc-1"))
    }

    @Test(arguments: [
        #"[1, 2]"#, #""text""#, #"{"args": {"a": 1}}"#, #"{"args": 5}"#, #"{"kwargs": [1]}"#, #"{"options": []}"#,
        #"{"options": {"queue": "bad name"}}"#, #"{"options": {"job_id": "../x"}}"#, #"{"options": {"delay": -1}}"#,
        #"{"options": {"retries": 3}}"#, #"{"kwarg": {}}"#, #"{"args": [1,"#,
    ])
    func wrongShapesAreBadRequests(_ body: String) {
        #expect(throws: RPCError.self) { try decode(body) }
        do {
            _ = try decode(body)
        } catch {
            #expect(error.code == .badRequest)
        }
    }

    @Test(arguments: ["-1", "abc", "nan", ""])
    func badWaitIsABadRequest(_ wait: String) {
        #expect(throws: RPCError.self) { try decode("", type: nil, query: "wait=\(wait)") }
    }

    @Test func badPercentEncodingIsABadRequest() {
        #expect(throws: RPCError.self) { try decode("args=%zz", type: "application/x-www-form-urlencoded") }
        #expect(throws: RPCError.self) { try decode("args=%ff", type: "application/x-www-form-urlencoded") }
    }

    @Test func otherContentTypesAreRefused() {
        #expect(throws: RPCError.self) { try decode("<x/>", type: "application/xml") }
    }
}
