/// An argument as it arrived: a JSON value, or text from a form or query string that is
/// converted to the declared type when it is bound.
public enum ArgumentValue: Sendable, Equatable {
    case json(JSONValue)
    case text(String)
}

/// The arguments of one call, bound to the declared parameters and checked.
/// Every declared parameter has a value (given or default) when the function runs.
public struct Arguments: Sendable {
    /// The declared parameters and their values, in declaration order. (Arrays, not a
    /// dictionary: functions have a few parameters, and this is built on every call.)
    private let parameters: [Parameter]
    private let slots: [JSONValue]
    /// How many of `slots` were given by position, and which were given by keyword, in order.
    private let positionalCount: Int
    private let keywordSlots: [Int]

    /// Arguments by name (tests, or calling a function's body directly); all count as keywords.
    public init(_ values: [String: JSONValue]) {
        let entries = values.sorted { $0.key < $1.key }
        self.init(
            parameters: entries.map { .any($0.key) }, slots: entries.map(\.value), positionalCount: 0, keywordSlots: Array(entries.indices))
    }

    private init(parameters: [Parameter], slots: [JSONValue], positionalCount: Int, keywordSlots: [Int]) {
        self.parameters = parameters
        self.slots = slots
        self.positionalCount = positionalCount
        self.keywordSlots = keywordSlots
    }

    /// Every parameter's value, defaults included.
    public var values: [String: JSONValue] { Dictionary(zip(parameters.map(\.name), slots), uniquingKeysWith: { _, last in last }) }

    /// The arguments as given (converted to their declared types), without defaults:
    /// what an MQ job stores as `args` and `kwargs`.
    public var positional: [JSONValue] { Array(slots[..<positionalCount]) }
    public var keywords: JSONObject { JSONObject(keywordSlots.map { (parameters[$0].name, slots[$0]) }) }

    public subscript(name: String) -> JSONValue {
        parameters.firstIndex { $0.name == name }.map { slots[$0] } ?? .null
    }

    public func int(_ name: String) throws -> Int {
        guard case .int(let value) = self[name] else { throw mismatch(name, "an integer") }
        return value
    }

    public func double(_ name: String) throws -> Double {
        switch self[name] {
        case .double(let value): return value
        case .int(let value): return Double(value)
        default: throw mismatch(name, "a number")
        }
    }

    public func string(_ name: String) throws -> String {
        guard case .string(let value) = self[name] else { throw mismatch(name, "a string") }
        return value
    }

    public func bool(_ name: String) throws -> Bool {
        guard case .bool(let value) = self[name] else { throw mismatch(name, "a boolean") }
        return value
    }

    /// The string itself, or the JSON text of any other value.
    public func text(_ name: String) -> String { self[name].plainText }

    private func mismatch(_ name: String, _ expected: String) -> FunctionError {
        FunctionError("argument '\(name)' is not \(expected)")
    }

    /// Binds positional and keyword arguments to `parameters` as Python would: positionals
    /// fill parameters in order, keywords by name, defaults fill the rest. Any mismatch is an
    /// `invalid_arguments` error and nothing runs.
    public static func bind(
        positional: [ArgumentValue],
        keywords: [(String, ArgumentValue)],
        to parameters: [Parameter],
        function: String
    ) throws(RPCError) -> Arguments {
        guard positional.count <= parameters.count else {
            throw .invalidArguments(
                "\(function)() takes \(parameters.count) positional argument\(parameters.count == 1 ? "" : "s") but \(positional.count) were given")
        }
        var values: [JSONValue] = []
        values.reserveCapacity(parameters.count)
        for (parameter, value) in zip(parameters, positional) {
            values.append(try check(value, for: parameter, function: function))
        }
        // keywordSlots[k] is the parameter that keywords[k] gives.
        var keywordSlots: [Int] = []
        for (name, _) in keywords {
            guard let index = parameters.firstIndex(where: { $0.name == name }) else {
                throw .invalidArguments("\(function)() got an unexpected keyword argument '\(name)'")
            }
            guard index >= positional.count, !keywordSlots.contains(index) else {
                throw .invalidArguments("\(function)() got multiple values for argument '\(name)'")
            }
            keywordSlots.append(index)
        }
        for (index, parameter) in zip(parameters.indices, parameters).dropFirst(positional.count) {
            if let keyword = keywordSlots.firstIndex(of: index) {
                values.append(try check(keywords[keyword].1, for: parameter, function: function))
            } else if let defaultValue = parameter.defaultValue {
                values.append(defaultValue)
            } else {
                throw .invalidArguments("\(function)() missing required argument '\(parameter.name)'")
            }
        }
        return Arguments(parameters: parameters, slots: values, positionalCount: positional.count, keywordSlots: keywordSlots)
    }

    private static func check(_ value: ArgumentValue, for parameter: Parameter, function: String) throws(RPCError) -> JSONValue {
        switch value {
        case .json(let json):
            guard parameter.accepts(json) else {
                throw .invalidArguments(
                    "\(function)() argument '\(parameter.name)' must be \(parameter.typeDescription), got \(json.typeName)")
            }
            return json
        case .text(let text):
            guard let converted = parameter.convert(text: text) else {
                throw .invalidArguments(
                    "\(function)() argument '\(parameter.name)' must be \(parameter.typeDescription), got '\(text.prefix(64))'")
            }
            return converted
        }
    }
}

extension JSONValue {
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a non-integer number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
