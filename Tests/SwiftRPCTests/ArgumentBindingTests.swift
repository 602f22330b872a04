import ExampleApp
import SwiftRPC
import Testing

@Suite struct ArgumentBindingTests {
    let parameters: [Parameter] = [.int("a"), .double("b"), .string("name", default: "x"), .bool("flag").optional]

    func bind(_ positional: [ArgumentValue], _ keywords: [(String, ArgumentValue)] = []) throws(RPCError) -> Arguments {
        try Arguments.bind(positional: positional, keywords: keywords, to: parameters, function: "f")
    }

    func expectInvalid(_ positional: [ArgumentValue], _ keywords: [(String, ArgumentValue)] = [], says fragment: String) {
        do {
            _ = try bind(positional, keywords)
            Issue.record("accepted \(positional) \(keywords)")
        } catch {
            #expect(error.code == .invalidArguments)
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }

    @Test func positionalKeywordsAndDefaults() throws {
        let args = try bind([.json(1)], [("b", .json(2)), ("flag", .json(nil))])
        #expect(try args.int("a") == 1)
        #expect(try args.double("b") == 2)
        #expect(try args.string("name") == "x")
        #expect(args["flag"] == .null)
    }

    @Test func arityUnknownAndTwice() {
        expectInvalid([.json(1), .json(2), .json("n"), .json(true), .json(5)], says: "takes 4 positional")
        expectInvalid([.json(1)], says: "missing required argument 'b'")
        expectInvalid([.json(1), .json(2)], [("c", .json(3))], says: "unexpected keyword argument 'c'")
        expectInvalid([.json(1), .json(2)], [("a", .json(3))], says: "multiple values for argument 'a'")
    }

    @Test func aKeywordGivenTwiceIsRefused() {
        // Form fields and query strings can repeat a name.
        expectInvalid([.json(1)], [("b", .json(2)), ("b", .json(3))], says: "multiple values for argument 'b'")
    }

    @Test func whatAJobStoresIsWhatWasGivenWithoutDefaults() throws {
        let args = try bind([.json(1)], [("flag", .json(true)), ("b", .text("2.5"))])
        #expect(args.positional == [1])
        // Keywords keep the order they were given in, converted to their declared types.
        #expect(args.keywords.keys == ["flag", "b"])
        #expect(args.keywords["b"] == 2.5)
        #expect(args.values == ["a": 1, "b": 2.5, "name": "x", "flag": true])
    }

    @Test func types() {
        expectInvalid([.json(1.0), .json(2)], says: "must be int")
        expectInvalid([.json("1"), .json(2)], says: "must be int")
        expectInvalid([.json(true), .json(2)], says: "must be int")
        expectInvalid([.json(nil), .json(2)], says: "must be int")
        expectInvalid([.json(1), .json("2")], says: "must be double")
        expectInvalid([.json(1), .json(2), .json(3)], says: "must be string")
    }

    @Test func formTextConvertsToTheDeclaredType() throws {
        let args = try bind([.text("7"), .text("2.5"), .text("n"), .text("true")])
        #expect(try args.int("a") == 7)
        #expect(try args.double("b") == 2.5)
        #expect(try args.bool("flag"))
        expectInvalid([.text("2.5"), .text("1")], says: "must be int")
        expectInvalid([.text("1"), .text("inf")], says: "must be double")
        expectInvalid([.text("1"), .text("nan")], says: "must be double")
    }

    @Test func exampleFunctions() throws {
        var registry = FunctionRegistry()
        registerExampleFunctions(in: &registry)
        let add = try #require(registry.function(named: "add"))
        guard case .sync(let body) = add.body else {
            Issue.record("add is not sync")
            return
        }
        #expect(try body(Arguments(["a": 2, "b": 3])) == 5)
        #expect(throws: FunctionError.self) { try body(Arguments(["a": .int(Int.max), "b": 1])) }
        #expect(registry.function(named: "test_block")?.mode == .pool)
        #expect(registry.function(named: "test_mq")?.mode == .mq)
    }

    @Test func names() {
        #expect(FunctionRegistry.isValidName("a.b_c9"))
        #expect(!FunctionRegistry.isValidName("9a"))
        #expect(!FunctionRegistry.isValidName("test/"))
        #expect(!FunctionRegistry.isValidName(""))
        #expect(JobNames.isValidJobID("abc-DEF_1"))
        #expect(!JobNames.isValidJobID("a:b"))
        #expect(!JobNames.isValidJobID(String(repeating: "a", count: 65)))
        #expect(JobNames.isValidQueueName("q.v1-x"))
        #expect(!JobNames.isValidQueueName("q v"))
    }
}
