import SwiftRPC
import Testing

struct Point: Codable, Equatable, ParameterValue {
    var x: Int
    var y: Int
}

enum Color: String, Codable, ParameterValue {
    case red, green
}

struct Summary: Encodable, Sendable {
    var count: Int
    var names: [String]
}

@Suite struct TypedRegistrationTests {
    /// Calls a sync or pool function of `registry` as the front does: bind, then run.
    func call(_ registry: FunctionRegistry, _ name: String, _ positional: [JSONValue], _ keywords: [(String, JSONValue)] = []) throws -> JSONValue {
        let function = try #require(registry.function(named: name))
        let arguments = try Arguments.bind(
            positional: positional.map(ArgumentValue.json), keywords: keywords.map { ($0.0, .json($0.1)) }, to: function.parameters, function: name)
        switch function.body {
        case .sync(let body), .pool(let body): return try body(arguments)
        default: throw FunctionError("not a sync function")
        }
    }

    func expectInvalid(_ registry: FunctionRegistry, _ name: String, _ positional: [JSONValue], says fragment: String) {
        do {
            let answer = try call(registry, name, positional)
            Issue.record("\(name)\(positional) answered \(answer)")
        } catch let error as RPCError {
            #expect(error.code == .invalidArguments, "\(error)")
            #expect(error.message.contains(fragment), "\(error.message)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func typedParametersBindAndAreCheckedLikeDeclaredOnes() throws {
        var typed = FunctionRegistry()
        typed.register("add", Param<Int>("a"), Param<Int>("b")) { a, b in a + b }
        var untyped = FunctionRegistry()
        untyped.register("add", .int("a"), .int("b")) { args in try args.int("a") + args.int("b") }

        #expect(try call(typed, "add", [1, 2]) == 3)
        #expect(try call(typed, "add", [1], [("b", 41)]) == 42)
        // The same declaration, so the same listing and the same 422s.
        #expect(typed.function(named: "add")?.listing == untyped.function(named: "add")?.listing)
        for bad: [JSONValue] in [[1, "x"], [1, 2.0], [1], [1, 2, 3]] {
            var messages: [String] = []
            for registry in [typed, untyped] {
                do { _ = try call(registry, "add", bad) } catch let error as RPCError { messages.append(error.message) }
            }
            #expect(messages.count == 2 && messages[0] == messages[1], "\(bad): \(messages)")
        }
    }

    @Test func structsEnumsOptionalsArraysAndDefaults() throws {
        var registry = FunctionRegistry()
        registry.register("shift", Param<Point>("p"), Param<Int>("by", default: 10)) { p, by in Point(x: p.x + by, y: p.y + by) }
        registry.register("paint", Param<Color>("color")) { color in "painted \(color.rawValue)" }
        registry.register("limit", Param<Int?>("n")) { n in n ?? -1 }
        registry.register("total", Param<[Int]>("values")) { values in values.reduce(0, +) }
        registry.register("summary", Param<[String]>("names")) { names in Summary(count: names.count, names: names) }
        registry.register("ping") { "pong" }

        #expect(try call(registry, "shift", [["x": 1, "y": 2]]) == ["x": 11, "y": 12])
        #expect(try call(registry, "shift", [["x": 1, "y": 2], 1]) == ["x": 2, "y": 3])
        expectInvalid(registry, "shift", [["x": 1]], says: "missing 'y'")
        expectInvalid(registry, "shift", [[1, 2]], says: "must be object")

        #expect(try call(registry, "paint", ["red"]) == "painted red")
        expectInvalid(registry, "paint", ["purple"], says: "argument 'color' is not a valid Color")
        expectInvalid(registry, "paint", [1], says: "must be string")

        #expect(try call(registry, "limit", []) == -1)
        #expect(try call(registry, "limit", [nil]) == -1)
        #expect(try call(registry, "limit", [3]) == 3)
        expectInvalid(registry, "limit", ["3"], says: "must be int")

        #expect(try call(registry, "total", [[1, 2, 3]]) == 6)
        expectInvalid(registry, "total", [[1, "2"]], says: "values")
        #expect(try call(registry, "summary", [["a", "b"]]) == ["count": 2, "names": ["a", "b"]])
        #expect(try call(registry, "ping", []) == "pong")

        let listing = try #require(registry.function(named: "shift")?.listing)
        #expect(listing["parameters"] == [["name": "p", "type": "object"], ["name": "by", "type": "int", "default": 10]])
        #expect(registry.function(named: "paint")?.listing["parameters"] == [["name": "color", "type": "string"]])
    }

    @Test func anMQFunctionIsTypedToo() async throws {
        var registry = FunctionRegistry()
        registry.registerMQ("square", Param<Int>("x")) { x in x * x }
        let function = try #require(registry.function(named: "square"))
        #expect(function.mode == .mq)
        guard case .mq(.async(let body), _) = function.body else { Issue.record("not an async MQ function"); return }
        let arguments = try Arguments.bind(positional: [.json(7)], keywords: [], to: function.parameters, function: "square")
        #expect(try await body(arguments) == 49)
    }
}
