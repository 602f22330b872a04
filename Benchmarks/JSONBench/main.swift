// Parsing a wide JSON object (80,000 keys, ~1 MB: what one request body may hold) next to
// its baseline, an array of the same 80,000 values parsed in the same run. Linear object
// parsing keeps the ratio small; a linear key scan made it grow with the key count.
import SwiftRPC

func body(keys: Int, object: Bool) -> [UInt8] {
    var text = object ? "{" : "["
    for index in 0..<keys {
        if index > 0 { text += "," }
        text += object ? "\"key\(index)\":\(index)" : "\(index)"
    }
    return Array((text + (object ? "}" : "]")).utf8)
}

func secondsPerParse(_ bytes: [UInt8], runs: Int) throws -> Double {
    let clock = ContinuousClock()
    var best = Duration.seconds(1_000)
    for _ in 0..<runs {
        let elapsed = try clock.measure { _ = try JSONParser.parse(bytes) }
        best = min(best, elapsed)
    }
    return best.inSeconds
}

let keys = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 80_000 : 80_000
let runs = 5
let wide = body(keys: keys, object: true)
let array = body(keys: keys, object: false)
func rounded(_ value: Double, _ digits: Double) -> Double { (value * digits).rounded() / digits }
let objectTime = try secondsPerParse(wide, runs: runs)
let arrayTime = try secondsPerParse(array, runs: runs)
print("wide object: \(keys) keys, \(wide.count) bytes: \(rounded(objectTime * 1000, 10)) ms per parse (best of \(runs))")
print("baseline array of the same values, \(array.count) bytes: \(rounded(arrayTime * 1000, 10)) ms")
print("object / array: \(rounded(objectTime / arrayTime, 100))")
