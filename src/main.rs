fn main() {
    println!("wg-failsafe");
}
